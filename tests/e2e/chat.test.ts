import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/fixtures.ts';
import { joinRoom, messageTexts, openApp, sendMessage, type Person } from '../helpers/browser.ts';
import { realBrokers, useBrowserAndSite, type RunningBroker } from '../helpers/e2e.ts';

const env = useBrowserAndSite();
const open = async (query: Record<string, string> = {}): Promise<Person> =>
  openApp(env.browser, env.url, query);

describe.each(realBrokers)(
  'two people chat in Chromium through %s, on the built site served from /mqchat/',
  (_n, start) => {
    let broker: RunningBroker;
    beforeAll(async () => {
      broker = await start();
    });
    afterAll(async () => {
      await broker?.close();
    });

    it('exchange 50 messages each: both see all 100 once, in the same order, by the right author', async () => {
      const alice = await open();
      const bob = await open();
      await joinRoom(alice, 'Alice', broker.urls.ws, 'e2e-fifty');
      await joinRoom(bob, 'Bob', broker.urls.ws, 'e2e-fifty');
      for (let i = 0; i < 50; i++) {
        await sendMessage(alice.page, `alice ${i}`);
        await sendMessage(bob.page, `bob ${i}`);
      }
      for (const person of [alice, bob]) {
        await until(async () => (await messageTexts(person.page)).length === 100, '100 messages', 30_000);
      }
      const [a, b] = [await messageTexts(alice.page), await messageTexts(bob.page)];
      expect(new Set(a).size).toBe(100);
      expect(a).toEqual(b);
      const authors = await bob.page
        .getByRole('log', { name: 'Messages' })
        .locator('article')
        .evaluateAll((articles) =>
          articles.map((el) => [
            el.querySelector('.author')?.textContent?.trim(),
            el.querySelector('p.text')?.textContent,
          ]),
        );
      for (const [author, text] of authors)
        expect(author?.startsWith(text?.startsWith('alice') ? 'Alice' : 'Bob')).toBe(true);
      expect([...alice.errors, ...bob.errors]).toEqual([]);
      await alice.context.close();
      await bob.context.close();
    });

    it('keeps history across a reload, without duplicates', async () => {
      const alice = await open();
      await joinRoom(alice, 'Alice', broker.urls.ws, 'e2e-reload');
      for (const text of ['one', 'two', 'three']) await sendMessage(alice.page, text);
      await until(async () => (await messageTexts(alice.page)).length === 3, 'three');
      await alice.page.reload();
      await alice.page.getByRole('button', { name: 'Join' }).click();
      await until(async () => (await messageTexts(alice.page)).length === 3, 'three after reload');
      expect(await messageTexts(alice.page)).toEqual(['one', 'two', 'three']);
      expect(alice.errors).toEqual([]);
      await alice.context.close();
    });
  },
);
