import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../src/core/chat-client.ts';
import { until } from '../helpers/fixtures.ts';
import { joinRoom, messageTexts, openApp } from '../helpers/browser.ts';
import { useBrowserAndSite } from '../helpers/e2e.ts';
import { bundledBroker, joinedReal, type Broker } from '../helpers/real.ts';

/**
 * How the message list moves while messages pour in: it follows the newest message while the reader
 * is at the bottom (also through a burst of history), stays put when they scrolled up (and offers a
 * jump to the new ones), and keeps the reader's place when older messages are added above.
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

describe('the message list in Chromium, against the bundled broker', () => {
  let broker: Broker;
  let writer: ChatClient;
  beforeAll(async () => {
    broker = await bundledBroker();
    // A clock that never repeats a millisecond: the list orders by (timestamp, id), send order here.
    let clock = Date.now() - 60_000;
    writer = (await joinedReal(broker.urls.ws, 'Writer', 'e2e-scroll', { now: () => ++clock })).client;
    // History before the reader joins: more than the list renders (300, filled up in steps).
    for (let i = 0; i < 400; i++) await writer.send('e2e-scroll', `history ${i}`);
    await writer.idle();
  });
  afterAll(async () => {
    await writer?.close();
    await broker?.close();
  });

  it('follows the newest message, stays put when scrolled up, jumps back, and keeps the place on older', async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await until(async () => (await messageTexts(page)).length === 300, 'the newest 300 rendered', 30_000);
    // At the bottom through the whole burst of history and the list filling up above.
    await until(async () => (await lastVisibleText(page)) === 'history 399', 'newest in view');
    expect(await fromBottom(page)).toBeLessThanOrEqual(1);

    // Live messages while at the bottom: followed.
    await writer.send('e2e-scroll', 'live 1');
    await until(async () => (await lastVisibleText(page)) === 'live 1', 'live 1 in view');

    // Scrolled up: a new message neither moves the view nor is missed.
    await log(page).evaluate((el) => el.scrollBy(0, -600));
    await until(async () => (await fromBottom(page)) >= 590, 'scrolled up');
    const anchor = await lastVisibleText(page);
    await writer.send('e2e-scroll', 'live 2');
    const jump = page.getByRole('button', { name: /new messages/i });
    await jump.waitFor();
    expect(await lastVisibleText(page)).toBe(anchor);
    await jump.click();
    await until(async () => (await lastVisibleText(page)) === 'live 2', 'jumped to live 2');
    await jump.waitFor({ state: 'detached' });

    // Scrolling to the top renders older messages above; the message at the top stays in place.
    const before = await log(page).evaluate((el) => {
      el.scrollTop = 0;
      const article = el.querySelector('article');
      return {
        text: article?.querySelector('p.text')?.textContent,
        top: article?.getBoundingClientRect().top,
      };
    });
    expect(before.text).toBe('history 102'); // the newest 300 of 402
    await until(async () => (await messageTexts(page)).length === 402, 'older ones rendered');
    const after = await log(page).evaluate((el, text) => {
      const article = [...el.querySelectorAll('article')].find(
        (a) => a.querySelector('p.text')?.textContent === text,
      );
      return article?.getBoundingClientRect().top;
    }, before.text);
    expect(Math.abs((after ?? Infinity) - (before.top ?? 0))).toBeLessThanOrEqual(2);
    expect(reader.errors).toEqual([]);
    await reader.context.close();
  });

  it("builds a message's actions only on hover or focus, and a keyboard user reaches them", async () => {
    const reader = await openApp(env.browser, env.url);
    const { page } = reader;
    await joinRoom(reader, 'Reader', broker.urls.ws, 'e2e-scroll');
    await until(async () => (await messageTexts(page)).length === 300, 'the newest 300 rendered', 30_000);
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
});
