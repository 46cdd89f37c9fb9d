// The production build's code split (bench/page.ts measures it): the join screen needs the entry chunk
// and its static imports only, the rest is fetched once it is painted, Join works even before that has
// arrived, and the service worker keeps every chunk for an offline start. Run `npm run build` first.
import { readdir, readFile } from 'node:fs/promises';
import type { Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchErrors } from '../helpers/browser.ts';
import { useBrowserAndSite } from '../helpers/e2e.ts';
import { until } from '../helpers/fixtures.ts';
import { bundledBroker, type Broker } from '../helpers/real.ts';

const env = useBrowserAndSite();
let broker: Broker;

beforeAll(async () => {
  broker = await bundledBroker();
});
afterAll(async () => {
  await broker?.close();
});

/**
 * The built JS files under dist/assets, and those the join screen needs: index.html's entry chunk and
 * what it imports statically, from Vite's build manifest.
 */
const builtScripts = async () => {
  const scripts = (await readdir('dist/assets')).filter((name) => name.endsWith('.js'));
  const manifest = JSON.parse(await readFile('dist/.vite/manifest.json', 'utf8')) as Record<
    string,
    { file: string; imports?: string[] }
  >;
  const needed = new Set<string>();
  const visit = (key: string) => {
    const chunk = manifest[key];
    if (chunk === undefined || needed.has(chunk.file)) return;
    needed.add(chunk.file);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  visit('index.html');
  return { scripts, needed: new Set([...needed].map((file) => file.replace(/^assets\//, ''))) };
};

describe('the code split of the production build', () => {
  it('paints the join screen with the entry chunk, fetches the rest after, and joins before it arrives', async () => {
    const { scripts, needed } = await builtScripts();
    expect(scripts.some((name) => name.startsWith('mqtt-transport-'))).toBe(true);
    // No service worker: its install would fetch every file, and this test holds some back.
    const context = await env.browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    try {
      const requested: string[] = [];
      const held: Route[] = [];
      let holding = true;
      await context.route(/\/assets\/[^/]+\.js$/, async (route) => {
        const name = new URL(route.request().url()).pathname.split('/').at(-1)!;
        requested.push(name);
        if (holding && !needed.has(name)) held.push(route);
        else await route.continue();
      });
      const page = await context.newPage();
      const errors = watchErrors(page);
      await page.goto(env.url);

      // Painted with nothing but the entry chunk (and its static imports, if it has any).
      const join = page.getByRole('button', { name: 'Join', exact: true });
      await join.waitFor();
      // Once painted, the app asks for the chunks that joining needs, MQTT.js first among them.
      await until(() => requested.some((name) => name.startsWith('mqtt-transport-')), 'MQTT.js requested');
      await until(() => requested.some((name) => name.startsWith('ChatScreen-')), 'chat screen requested');
      expect(needed.has(requested[0] ?? '')).toBe(true);

      // Join while none of them has arrived: joining waits for them, then goes through.
      await page.getByLabel('Name', { exact: true }).fill('Early');
      await page.getByLabel('Room', { exact: true }).fill('page-split');
      await page.getByLabel('Broker URL', { exact: true }).fill(broker.urls.ws);
      await join.click();
      holding = false;
      for (const route of held.splice(0)) await route.continue();
      await page.getByRole('status').getByText('online').waitFor({ timeout: 15_000 });
      expect(new Set(requested)).toEqual(new Set(scripts));
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lists every built file in the service worker, so the lazy chunks open offline too', async () => {
    const worker = await readFile('dist/sw.js', 'utf8');
    const files = /"files":(\[[^\]]*\])/.exec(worker)?.[1];
    expect(files, 'the precache list in dist/sw.js').toBeDefined();
    const precached = new Set(JSON.parse(files ?? '[]') as string[]);
    const assets = (await readdir('dist/assets')).filter((name) => !name.endsWith('.map'));
    expect(assets.length).toBeGreaterThan(3);
    for (const name of assets) expect(precached, name).toContain(`assets/${name}`);
  });
});
