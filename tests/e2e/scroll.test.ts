import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../src/core/chat-client.ts';
import { until } from '../helpers/fixtures.ts';
import { joinRoom, openApp } from '../helpers/browser.ts';
import { useBrowserAndSite } from '../helpers/e2e.ts';
import { bundledBroker, joinedReal, type Broker } from '../helpers/real.ts';

/**
 * How the message list moves while messages pour in: it follows the newest message while the reader
 * is at the bottom (also through a burst of history), stays put when they scrolled up (and offers a
 * jump to the new ones), and keeps the reader's place when older messages are added above. It is a
 * virtual list: however many messages are loaded, only the rows near the view are in the DOM.
 */
const env = useBrowserAndSite();

const log = (page: Page) => page.getByRole('log', { name: 'Messages' });

/** Distance from the bottom of the log, in pixels; 0 when scrolled to the end. */
const fromBottom = (page: Page) =>
  log(page).evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);

const lastVisibleText = (page: Page) =>
  log(page).evaluate((el) => {
    const box = el.getBoundingClientRect();
    const visible = [...el.querySelectorAll('article')].filter((article) => {
      const r = article.getBoundingClientRect();
      return r.bottom > box.top && r.top < box.bottom;
    });
    return visible.at(-1)?.querySelector('p.text')?.textContent;
  });

/** The text of the article with `data-id` `id`, and whether it is inside the log's visible area. */
const inView = (page: Page, text: string) =>
  log(page).evaluate((el, text) => {
    const box = el.getBoundingClientRect();
    const article = [...el.querySelectorAll('article')].find(
      (a) => a.querySelector('p.text')?.textContent === text,
    );
    const r = article?.getBoundingClientRect();
    return r !== undefined && r.bottom > box.top && r.top < box.bottom;
  }, text);

/** Rows in the DOM: articles, and every element inside the log. */
const domSize = (page: Page) =>
  log(page).evaluate((el) => ({
    articles: el.querySelectorAll('article').length,
    elements: el.querySelectorAll('*').length,
  }));

/**
 * The first article in view at the top of the log, with its text and distance from the top edge; none
 * while the rows rendered are still those of an earlier scroll position (all out of view).
 */
const topRow = (page: Page) =>
  log(page).evaluate((el) => {
    const edge = el.getBoundingClientRect().top;
    const article = [...el.querySelectorAll('article')].find((a) => {
      const r = a.getBoundingClientRect();
      return r.bottom > edge && r.top < edge + el.clientHeight;
    });
    return {
      text: article?.querySelector('p.text')?.textContent ?? undefined,
      top: (article?.getBoundingClientRect().top ?? NaN) - edge,
    };
  });

/** Joined: history no longer pouring in (the log is not busy) and the view at the bottom. */
const settled = (page: Page) =>
  until(
    async () =>
      (await log(page).getAttribute('aria-busy')) === 'false' &&
      (await fromBottom(page)) <= 1 &&
      (await lastVisibleText(page)) !== undefined,
    'history loaded, at the bottom',
    30_000,
  );

/** Rendered rows are bounded: a screenful (about 10 here) and 600 px of overscan either side. */
const MAX_ARTICLES = 60;
const HISTORY = 2000;

describe('the message list in Chromium, against the bundled broker', () => {
  let broker: Broker;
  let writer: ChatClient;
  const ids: string[] = [];
  beforeAll(async () => {
    broker = await bundledBroker();
    // A clock that never repeats a millisecond: the list orders by (timestamp, id), send order here.
    let clock = Date.now() - 60_000;
    writer = (await joinedReal(broker.urls.ws, 'Writer', 'e2e-scroll', { now: () => ++clock })).client;
    // History before the reader joins: more than a join loads (HIST-6), so scrolling up loads older.
    for (let i = 0; i < HISTORY; i += 200) {
      const sent = await Promise.all(
        Array.from({ length: 200 }, (_, j) => writer.send('e2e-scroll', `history ${i + j}`)),
      );
      for (const message of sent) if (typeof message !== 'string') ids.push(message.id);
      await writer.idle();
    }
    expect(ids).toHaveLength(HISTORY);
  });
  afterAll(async () => {
    await writer?.close();
    await broker?.close();
  });

  it('follows the newest message, stays put when scrolled up, and jumps back, with a bounded DOM', async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    // At the bottom through the whole burst of history.
    await until(
      async () => (await lastVisibleText(page)) === `history ${HISTORY - 1}`,
      'newest in view',
      30_000,
    );
    await until(async () => (await fromBottom(page)) <= 1, 'at the bottom');
    expect((await domSize(page)).articles).toBeLessThanOrEqual(MAX_ARTICLES);

    // Live messages while at the bottom: followed.
    await writer.send('e2e-scroll', 'live 1');
    await until(async () => (await lastVisibleText(page)) === 'live 1', 'live 1 in view');

    // Scrolled up: a new message neither moves the view nor is missed.
    await log(page).evaluate((el) => el.scrollBy(0, -600));
    await until(async () => (await fromBottom(page)) >= 590, 'scrolled up');
    const anchor = await topRow(page);
    await writer.send('e2e-scroll', 'live 2');
    const jump = page.getByRole('button', { name: /new messages/i });
    await jump.waitFor();
    const still = await topRow(page);
    expect(still.text).toBe(anchor.text);
    expect(Math.abs(still.top - anchor.top)).toBeLessThanOrEqual(2);
    await jump.click();
    await until(async () => (await lastVisibleText(page)) === 'live 2', 'jumped to live 2');
    await jump.waitFor({ state: 'detached' });
    expect((await domSize(page)).articles).toBeLessThanOrEqual(MAX_ARTICLES);
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });

  it('keeps the place when older history loads above, and scrolls up to the oldest with a bounded DOM', async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await settled(page);

    // To the top of what is loaded: older history is asked for and added above the row at the top,
    // which stays where it was (within 4 px: scroll positions are whole pixels, row heights are not)
    // once the older rows are in.
    const height = await log(page).evaluate((el) => {
      el.scrollTop = 0;
      return el.scrollHeight;
    });
    // The row at the top, from the very sample that found one: a second look could already fall in the
    // middle of the next update.
    let before: { text: string | undefined; top: number } = { text: undefined, top: NaN };
    await until(async () => (before = await topRow(page)).text !== undefined, 'rows at the top');
    await until(
      async () => (await log(page).evaluate((el) => el.scrollHeight)) > height + 1000,
      'older rows added above',
      30_000,
    );
    await until(async () => (await log(page).getAttribute('aria-busy')) === 'false', 'older loaded');
    // Sampled between frames, the DOM can hold the rows just added before the list has put the reader's
    // row back (it does so before painting); so the check waits for a frame, and fails if the row does
    // not come back to its place.
    let after = NaN;
    await until(
      async () => {
        after = await log(page).evaluate(
          (el, text) =>
            new Promise<number>((resolve) =>
              requestAnimationFrame(() => {
                const article = [...el.querySelectorAll('article')].find(
                  (a) => a.querySelector('p.text')?.textContent === text,
                );
                resolve((article?.getBoundingClientRect().top ?? NaN) - el.getBoundingClientRect().top);
              }),
            ),
          before.text,
        );
        return Math.abs(after - before.top) <= 4;
      },
      'the row at the top back in its place',
      10_000,
    ).catch(() => undefined);
    expect(Math.abs(after - before.top)).toBeLessThanOrEqual(4);

    // On up to the oldest message: the rows rendered stay bounded all the way.
    let most = 0;
    await until(
      async () => {
        const size = await domSize(page);
        most = Math.max(most, size.articles);
        if (await inView(page, 'history 0')) return true;
        await log(page).evaluate((el) => el.scrollBy(0, -2000));
        return false;
      },
      'the oldest message in view',
      90_000,
    );
    expect(most).toBeLessThanOrEqual(MAX_ARTICLES);
    // All 2,000 are loaded (2,001 with the day rows): rendering them all would take about 90,000 elements.
    expect((await domSize(page)).elements).toBeLessThan(4000);
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });

  it('jumps to a quoted message far above the rendered rows', async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await settled(page);
    // 400 messages above the newest: loaded with the join, but far from the rendered rows.
    const quoted = HISTORY - 400;
    expect(
      await log(page)
        .locator('p.text', { hasText: new RegExp(`^history ${quoted}$`) })
        .count(),
    ).toBe(0);
    await writer.send('e2e-scroll', 'see this one', { reply: ids[quoted]! });
    await until(async () => (await lastVisibleText(page)) === 'see this one', 'the reply in view');
    await log(page)
      .locator('article')
      .last()
      .getByRole('button', { name: /^Quote:/ })
      .click();
    await until(async () => await inView(page, `history ${quoted}`), 'the quoted message in view', 10_000);
    expect(await log(page).locator('article.highlighted p.text').textContent()).toBe(`history ${quoted}`);
    expect((await domSize(page)).articles).toBeLessThanOrEqual(MAX_ARTICLES);
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });

  it("builds a message's actions only on hover or focus, and a keyboard user reaches them", async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await settled(page);
    // A plain message last (the one before quotes another: Tab would reach its quote first).
    await writer.send('e2e-scroll', 'plain last');
    await until(async () => (await lastVisibleText(page)) === 'plain last', 'plain last in view');
    const toolbars = () => log(page).getByRole('group', { name: 'Message actions' }).count();
    expect(await toolbars()).toBe(0);
    const last = log(page).locator('article').last();
    await last.hover();
    await last.getByRole('group', { name: 'Message actions' }).waitFor();
    expect(await toolbars()).toBe(1);
    await page.mouse.move(0, 0);
    await until(async () => (await toolbars()) === 0, 'toolbar gone with the pointer');
    // Keyboard: Tab reaches the message, then its author's menu button, then its first action.
    await last.focus();
    const focused = async () => page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
    await page.keyboard.press('Tab');
    expect(await focused()).toBeNull();
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Like');
    expect(await toolbars()).toBe(1);
    // Back past the message to the one before it: the toolbar moves with the focus.
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+Tab');
    await until(async () => (await last.getByRole('group').count()) === 0, 'toolbar gone with the focus');
    expect(await log(page).locator('article').nth(-2).getByRole('group').count()).toBe(1);
    expect(await toolbars()).toBe(1);
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });

  it("opens an author's menu, built on first use, by pointer and by keyboard", async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await settled(page);
    // A popover closes when the log scrolls (it would float away from its button), as it does while
    // older history still arrives after the join: wait until the log holds still.
    let last = '';
    await until(
      async () => {
        const now = await log(page).evaluate((el) => `${el.scrollTop} ${el.scrollHeight}`);
        const still = now === last;
        last = now;
        if (!still) await new Promise((resolve) => setTimeout(resolve, 500));
        return still;
      },
      'the log holding still',
      30_000,
    );
    // No row builds its menu's popover before it is used.
    expect(await log(page).locator('[popover]').count()).toBe(0);
    const author = log(page).locator('article').last().getByRole('button', { name: 'Writer', exact: true });
    // The sidebar's list of people has its own "Mute Writer": the one in the open menu.
    const mute = page.locator('[popover]:popover-open').getByRole('button', { name: 'Mute Writer' });
    await author.click();
    await mute.waitFor();
    expect(await author.getAttribute('aria-expanded')).toBe('true');
    // Clicking the name again closes it (the button is the popover's invoker, not outside it).
    await author.click();
    await mute.waitFor({ state: 'hidden' });
    // Keyboard: Enter opens it with focus on its first item, Escape closes it.
    await author.focus();
    await page.keyboard.press('Enter');
    await mute.waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toMatch(/Writer/);
    await page.keyboard.press('Escape');
    await mute.waitFor({ state: 'hidden' });
    // Built by a click with neither pointer nor key before it (as assistive technology may send).
    const other = log(page).locator('article').nth(-2).getByRole('button', { name: 'Writer', exact: true });
    await other.evaluate((button: HTMLElement) => button.click());
    await mute.waitFor();
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });
});
