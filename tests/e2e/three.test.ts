import mqtt from 'mqtt';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { fromUtf8 } from '../../src/protocol/bytes.ts';
import { joinRoom, messageTexts, openApp, sendMessage, type Person } from '../helpers/browser.ts';
import { until } from '../helpers/fixtures.ts';
import { realBrokers, useBrowserAndSite } from '../helpers/e2e.ts';

const env = useBrowserAndSite();

const online = (page: Page) => page.getByRole('region', { name: /^Online/ });
const article = (page: Page, text: string) =>
  page
    .getByRole('log', { name: 'Messages' })
    .locator('article')
    .filter({ has: page.locator('p.text', { hasText: text }) });

describe.each(realBrokers)('Alice, Bob and Carol in Chromium through %s', (_name, start) => {
  it('do everything both origins do: rooms, replies, likes, presence, DMs', async () => {
    const broker = await start();
    // A subscriber to everything, as anyone on an open broker can be.
    const spy = await mqtt.connectAsync(broker.urls.mqtt, { protocolVersion: 4 });
    const wire: string[] = [];
    spy.on('message', (_topic, payload) => wire.push(fromUtf8(payload) ?? ''));
    await spy.subscribeAsync('#');

    const people: Record<'alice' | 'bob' | 'carol', Person> = {
      alice: await openApp(env.browser, env.url),
      bob: await openApp(env.browser, env.url),
      carol: await openApp(env.browser, env.url),
    };
    const { alice, bob, carol } = people;
    await joinRoom(alice, 'Alice', broker.urls.ws, 'lobby');
    await joinRoom(bob, 'Bob', broker.urls.ws, 'lobby');

    // Rooms: Alice creates one, Bob discovers it (ROOM-3).
    await alice.page.getByLabel('New room', { exact: true }).fill('Games');
    await alice.page.getByRole('button', { name: 'Join room' }).click();
    await bob.page.getByRole('button', { name: 'Join games' }).waitFor({ timeout: 15_000 });
    await alice.page
      .getByRole('button', { name: /^lobby/ })
      .first()
      .click();

    // Presence: the online list and join notices (PRES-1).
    await joinRoom(carol, 'Carol', broker.urls.ws, 'lobby');
    for (const person of [alice, bob, carol]) {
      await online(person.page).getByRole('heading', { name: 'Online (3)' }).waitFor({ timeout: 15_000 });
    }
    await bob.page.getByText('Carol joined').first().waitFor();

    // Replies: Bob quotes Alice (REPLY-1).
    await sendMessage(alice.page, 'Who wants tea?');
    await article(bob.page, 'Who wants tea?').waitFor();
    await article(bob.page, 'Who wants tea?').hover();
    await article(bob.page, 'Who wants tea?').getByRole('button', { name: 'Reply' }).click();
    await sendMessage(bob.page, 'Me, please');
    const quote = article(carol.page, 'Me, please').getByRole('button', { name: /^Quote:/ });
    await quote.waitFor();
    expect(await quote.textContent()).toContain('Alice');
    expect(await quote.textContent()).toContain('Who wants tea?');

    // Likes: once per user, live everywhere (REACT-1..3).
    for (const person of [bob, carol]) {
      // Actions appear on hover or focus; once liked, the like also shows under the message.
      await article(person.page, 'Who wants tea?').hover();
      await article(person.page, 'Who wants tea?').getByRole('button', { name: 'Like', exact: true }).click();
    }
    // Carol unlikes and likes again: still one like from her.
    await article(carol.page, 'Who wants tea?').getByRole('button', { name: 'Unlike', exact: true }).click();
    await article(carol.page, 'Who wants tea?').getByRole('button', { name: 'Like', exact: true }).click();
    for (const person of [alice, bob, carol]) {
      await until(
        async () =>
          (
            await article(person.page, 'Who wants tea?')
              .getByRole('button', { name: /^(Like|Unlike)$/ })
              .textContent()
          )?.includes('2') ?? false,
        'two likes everywhere',
        15_000,
      );
    }

    // DMs: Alice → Bob, readable by Bob only (DM-2..DM-5).
    await online(alice.page).getByRole('button', { name: 'Message Bob' }).click();
    await alice.page.getByRole('heading', { name: /Direct message with Bob/ }).waitFor();
    await until(
      async () => {
        await sendMessage(alice.page, 'a secret for Bob');
        return (await messageTexts(alice.page)).includes('a secret for Bob');
      },
      'DM sent once the key is known',
      15_000,
    );
    await bob.page
      .getByRole('region', { name: /Direct messages/ })
      .getByRole('button', { name: /Alice/ })
      .first()
      .click();
    await until(
      async () => (await messageTexts(bob.page)).includes('a secret for Bob'),
      'Bob reads it',
      15_000,
    );
    expect(await carol.page.getByText('a secret for Bob').count()).toBe(0);
    expect(wire.some((payload) => payload.includes('a secret for Bob'))).toBe(false);

    // Alice's tab dies: she leaves the others' lists at once by her will (PRES-3, bound 90 s).
    const started = Date.now();
    await alice.context.close();
    await online(carol.page).getByRole('heading', { name: 'Online (2)' }).waitFor({ timeout: 95_000 });
    console.log(`FIGURE: Alice left Carol's online list ${Date.now() - started} ms after her tab was closed`);
    await carol.page.getByText('Alice left').first().waitFor();

    expect([...bob.errors, ...carol.errors]).toEqual([]);
    await spy.endAsync();
    await bob.context.close();
    await carol.context.close();
    await broker.close();
  }, 240_000);
});
