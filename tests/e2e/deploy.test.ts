// The production build as a static host serves it (GitHub Pages: under /<repo>/): strict CSP, the web app
// manifest, the service worker and an offline start. Run `npm run build` first (`npm run test:e2e` does).
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/fixtures.ts';
import {
  joinRoom,
  launchChromium,
  messageTexts,
  sendMessage,
  watchErrors,
  type Person,
} from '../helpers/browser.ts';
import { bundledBroker, type Broker } from '../helpers/real.ts';
import { serveStatic } from '../helpers/static-server.ts';

type Site = Awaited<ReturnType<typeof serveStatic>>;

let browser: Browser;
let broker: Broker;
let site: Site;

beforeAll(async () => {
  [browser, broker, site] = await Promise.all([
    launchChromium(),
    bundledBroker(),
    serveStatic('dist', '/mqchat/'),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
  await broker?.close();
});

interface Visitor extends Person {
  /** `securitypolicyviolation` events of every document the profile opened. */
  violations: string[];
  /** Every HTTP response the profile got, the service worker's own fetches included. */
  responses: { url: string; status: number }[];
  failed: string[];
}

/** A new browser profile on `url`, watching CSP violations, errors and the network from the first byte. */
const visit = async (url: string): Promise<Visitor> => {
  const context = await browser.newContext({ locale: 'en-US' });
  const violations: string[] = [];
  const responses: Visitor['responses'] = [];
  const failed: string[] = [];
  await context.exposeFunction('reportCspViolation', (text: string) => violations.push(text));
  await context.addInitScript(() => {
    const report = (window as unknown as { reportCspViolation: (text: string) => void }).reportCspViolation;
    document.addEventListener('securitypolicyviolation', (event) =>
      report(
        `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`,
      ),
    );
  });
  context.on('response', (response) => responses.push({ url: response.url(), status: response.status() }));
  context.on('requestfailed', (request) => failed.push(`${request.url()} ${request.failure()?.errorText}`));
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  return { context, page, errors, violations, responses, failed };
};

const joinScreen = (page: Page) => page.getByRole('button', { name: 'Join' }).waitFor({ timeout: 15_000 });

/** The script URL of the worker that is active for the page's scope; rejects if none gets there. */
const activeWorker = (page: Page) =>
  page.evaluate(() =>
    Promise.race([
      navigator.serviceWorker.ready.then((registration) => registration.active?.scriptURL),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no service worker became active within 15 s')), 15_000),
      ),
    ]),
  );

const controller = (page: Page) => page.evaluate(() => navigator.serviceWorker.controller?.scriptURL);

/** Reads width and height from a PNG's IHDR chunk. */
const pngSize = (bytes: Buffer) => `${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`;

describe('the production build served from /mqchat/ by a plain static server', () => {
  it('asset URLs in index.html are relative, and a Content-Security-Policy meta comes before any script', async () => {
    const html = await readFile('dist/index.html', 'utf8');
    const urls = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
    expect(urls.length).toBeGreaterThan(3);
    for (const url of urls) expect(url).toMatch(/^\.\/[^/]/);
    const csp = html.indexOf('http-equiv="Content-Security-Policy"');
    expect(csp).toBeGreaterThan(0);
    expect(csp).toBeLessThan(html.indexOf('<script'));
    expect(html).toContain("script-src 'self';");
    expect(html).not.toContain('unsafe-inline');
    expect(html).not.toContain('unsafe-eval');
  });

  it('loads, joins a room and chats with no page error, no CSP violation, every request 200 under /mqchat/', async () => {
    const alice = await visit(site.url);
    await joinScreen(alice.page);
    await joinRoom(alice, 'Alice', broker.urls.ws, 'deploy-csp');
    await sendMessage(alice.page, 'hello under a strict CSP');
    await until(
      async () => (await messageTexts(alice.page)).includes('hello under a strict CSP'),
      'own message',
    );
    // The service worker's install fetches count too: they must all succeed for it to install.
    await activeWorker(alice.page);

    expect(alice.errors).toEqual([]);
    expect(alice.violations).toEqual([]);
    expect(alice.failed).toEqual([]);
    const origin = new URL(site.url).origin;
    const local = alice.responses.filter((response) => response.url.startsWith(origin));
    expect(local.map((response) => new URL(response.url).pathname)).toEqual(
      expect.arrayContaining(['/mqchat/', expect.stringMatching(/^\/mqchat\/assets\/index-.*\.js$/)]),
    );
    for (const response of local) {
      expect(new URL(response.url).pathname, response.url).toMatch(/^\/mqchat\//);
      expect(response.status, response.url).toBe(200);
    }
    await alice.context.close();
  });

  it('serves a web app manifest that parses, with every icon it names', async () => {
    const { context, page } = await visit(site.url);
    const href = await page.locator('link[rel="manifest"]').getAttribute('href');
    expect(href).toBe('./manifest.webmanifest');
    const manifestUrl = new URL(href ?? '', page.url());
    const response = await context.request.get(manifestUrl.href);
    expect(response.status()).toBe(200);
    const manifest = (await response.json()) as {
      name: string;
      start_url: string;
      scope: string;
      display: string;
      icons: { src: string; sizes: string; type: string; purpose?: string }[];
    };
    expect(manifest).toMatchObject({ name: 'mqchat', start_url: './', scope: './', display: 'standalone' });
    const png = manifest.icons.filter((icon) => icon.type === 'image/png');
    expect(png.map((icon) => `${icon.sizes} ${icon.purpose ?? 'any'}`)).toEqual(
      expect.arrayContaining(['192x192 any', '512x512 any', '512x512 maskable']),
    );
    for (const icon of manifest.icons) {
      const url = new URL(icon.src, manifestUrl);
      expect(url.pathname).toMatch(/^\/mqchat\//);
      const image = await context.request.get(url.href);
      expect(image.status(), url.href).toBe(200);
      if (icon.type === 'image/png') expect(pngSize(await image.body()), url.href).toBe(icon.sizes);
    }
    const touchIcon = await page.locator('link[rel="apple-touch-icon"]').getAttribute('href');
    expect((await context.request.get(new URL(touchIcon ?? '', page.url()).href)).status()).toBe(200);
    await context.close();
  });

  it('registers the service worker, which controls the page after a reload and serves the assets', async () => {
    const visitor = await visit(site.url);
    const { page } = visitor;
    await joinScreen(page);
    expect(await activeWorker(page)).toBe(`${site.url}sw.js`);
    const fromWorker: string[] = [];
    page.on('response', (response) => {
      if (response.fromServiceWorker()) fromWorker.push(new URL(response.url()).pathname);
    });
    await page.reload();
    await joinScreen(page);
    expect(await controller(page)).toBe(`${site.url}sw.js`);
    expect(fromWorker).toEqual(
      expect.arrayContaining(['/mqchat/', expect.stringMatching(/^\/mqchat\/assets\/index-.*\.js$/)]),
    );
    expect(visitor.errors).toEqual([]);
    expect(visitor.violations).toEqual([]);
    await visitor.context.close();
  });

  it('opens offline from the cache: the join screen with the room history kept in IndexedDB', async () => {
    // Its own host and broker, so both can go down.
    const [host, ownBroker] = await Promise.all([serveStatic('dist', '/mqchat/'), bundledBroker()]);
    try {
      const bob = await visit(host.url);
      await joinRoom(bob, 'Bob', ownBroker.urls.ws, 'deploy-offline');
      await sendMessage(bob.page, 'written before going offline');
      await until(async () => (await messageTexts(bob.page)).length === 1, 'own message');
      await activeWorker(bob.page);

      // The host is gone: the page still opens, from the cache.
      await host.close();
      await ownBroker.close();
      await bob.page.reload();
      await joinScreen(bob.page);
      // The device is offline (DevTools emulation, which covers HTTP), and the URL has a query.
      await bob.context.setOffline(true);
      await bob.page.goto(`${host.url}?room=deploy-offline`);
      await joinScreen(bob.page);
      await bob.page.getByRole('button', { name: 'Join' }).click();
      await until(
        async () => (await messageTexts(bob.page)).includes('written before going offline'),
        'history from IndexedDB, offline',
        15_000,
      );
      expect(bob.errors).toEqual([]);
      expect(bob.violations).toEqual([]);
      await bob.context.close();
    } finally {
      await host.close().catch(() => undefined);
      await ownBroker.close();
    }
  });
});
