import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, headless, without the background services this closed network refuses. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

/** Page errors, unhandled rejections and console errors of a page, for asserting there were none. */
export const watchErrors = (page: Page) => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // Chromium logs these for sockets that fail or close under a send; no exception reaches the page.
    const socketNoise = /WebSocket connection to .* failed|WebSocket is already in CLOSING or CLOSED state/;
    if (message.type() === 'error' && !socketNoise.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
  return errors;
};

export interface Person {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

/** A new browser profile (its own IndexedDB, so its own identity) with the app open. */
export const openApp = async (browser: Browser, appUrl: string, query: Record<string, string> = {}) => {
  // Self-signed certificates only ever come from the tests' own https server on 127.0.0.1.
  const context = await browser.newContext({ locale: 'en-US', ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const url = new URL(appUrl);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  await page.goto(url.href);
  return { context, page, errors } satisfies Person;
};

/** Fills the join form the way a person does and waits for the room view. */
export const joinRoom = async (person: Person, name: string, broker: string, room = 'lobby') => {
  const { page } = person;
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByLabel('Broker URL', { exact: true }).fill(broker);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('status').getByText('online').waitFor({ timeout: 15_000 });
};

export const sendMessage = async (page: Page, text: string) => {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
};

export interface ShownMessage {
  text: string;
  author: string | undefined;
  /** The quoted message's excerpt, in a reply. */
  excerpt: string | undefined;
  hrefs: string[];
  state: string | null;
}

/**
 * Every message shown, in order. The log is a virtual list (only rows near the view are in the DOM),
 * so this scrolls it from top to bottom a screen at a time, collecting rows by id, and then puts the
 * view back (at the bottom if it was there).
 */
export const shownMessages = (page: Page): Promise<ShownMessage[]> =>
  page.getByRole('log', { name: 'Messages' }).evaluate(async (log) => {
    const frames = () =>
      new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
    const rows = new Map<string, ShownMessage>();
    const collect = () =>
      log.querySelectorAll('article').forEach((article, i) => {
        const text = article.querySelector('p.text')?.textContent;
        if (text == null) return;
        rows.set(article.getAttribute('data-id') ?? `queued ${i} ${text}`, {
          text,
          author: article.querySelector('.author')?.textContent ?? undefined,
          excerpt: article.querySelector('.quote .excerpt')?.textContent ?? undefined,
          hrefs: [...article.querySelectorAll('a')].map((a) => a.getAttribute('href') ?? ''),
          state: article.getAttribute('data-state'),
        });
      });
    const { scrollTop } = log;
    const atBottom = log.scrollHeight - scrollTop - log.clientHeight <= 1;
    if (log.scrollHeight > log.clientHeight) {
      log.scrollTop = 0;
      await frames();
    }
    for (;;) {
      collect();
      if (log.scrollHeight - log.scrollTop - log.clientHeight <= 1) break;
      log.scrollTop += log.clientHeight;
      await frames();
    }
    if (log.scrollTop !== scrollTop) {
      log.scrollTop = atBottom ? log.scrollHeight : scrollTop;
      await frames();
    }
    return [...rows.values()];
  });

/** The texts of the messages shown, in order (through the whole virtual list). */
export const messageTexts = async (page: Page) => (await shownMessages(page)).map((m) => m.text);
