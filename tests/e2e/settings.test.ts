// Broker settings on the join form (issue "Any MQTT-WS broker, any static host"): share links, user
// name and password, signing in with the key on an authenticated broker, and topic prefixes.
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../broker/index.js';
import { launchChromium, messageTexts, sendMessage, watchErrors, type Person } from '../helpers/browser.ts';
import { until } from '../helpers/fixtures.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { bundledBroker, type Broker } from '../helpers/real.ts';
import { serveStatic } from '../helpers/static-server.ts';

let browser: Browser;
let broker: Broker;
let site: Awaited<ReturnType<typeof serveStatic>>;
const people: Person[] = [];

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

const CLIPBOARD: BrowserContextOptions = { permissions: ['clipboard-read', 'clipboard-write'] };
const REFUSED = 'The broker refused the user name or password';

/** A new browser profile with the app open at `url` (the site, or a share link). */
const open = async (url = site.url, options: BrowserContextOptions = {}): Promise<Person> => {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  const page = await context.newPage();
  const person = { context, page, errors: watchErrors(page) };
  people.push(person);
  await page.goto(url);
  return person;
};

interface Settings {
  room?: string;
  broker?: string;
  username?: string;
  password?: string;
  login?: boolean;
  prefix?: string;
}

const openSettings = async (page: Page) => {
  const details = page.locator('details', { has: page.getByText('Broker settings', { exact: true }) });
  if (!(await details.evaluate((element) => (element as HTMLDetailsElement).open)))
    await page.getByText('Broker settings', { exact: true }).click();
};

/** Fills the join form, the broker settings only where asked, and presses Join. */
const fillJoin = async ({ page }: Person, name: string, settings: Settings) => {
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (settings.room !== undefined) await page.getByLabel('Room', { exact: true }).fill(settings.room);
  if (settings.broker !== undefined)
    await page.getByLabel('Broker URL', { exact: true }).fill(settings.broker);
  const { username, password, login, prefix } = settings;
  if (username !== undefined || password !== undefined || login !== undefined || prefix !== undefined) {
    await openSettings(page);
    if (login !== undefined)
      await page.getByLabel('Sign in with my key (authenticated broker)').setChecked(login);
    if (username !== undefined) await page.getByLabel('User name', { exact: true }).fill(username);
    if (password !== undefined) await page.getByLabel('Password', { exact: true }).fill(password);
    if (prefix !== undefined) await page.getByLabel('Topic prefix', { exact: true }).fill(prefix);
  }
  await page.getByRole('button', { name: 'Join' }).click();
};

const online = (page: Page) => page.getByRole('status').getByText('online').waitFor({ timeout: 15_000 });

const join = async (person: Person, name: string, settings: Settings) => {
  await fillJoin(person, name, settings);
  await online(person.page);
};

const sees = (person: Person, text: string, what = text) =>
  until(async () => (await messageTexts(person.page)).includes(text), what, 10_000);

const copyLink = async (page: Page): Promise<string> => {
  await page.getByRole('button', { name: 'Copy link' }).click();
  await page.getByText('Link copied').waitFor();
  return page.evaluate(() => navigator.clipboard.readText());
};

/** Each person's page saw no errors; their profiles close. */
const done = async () => {
  for (const person of people.splice(0)) {
    expect(person.errors, person.errors.join('\n')).toEqual([]);
    await person.context.close();
  }
};

describe('broker settings in Chromium, on the built site served from /mqchat/', () => {
  it('a public preset fills the URL and warns that anyone can read public rooms', async () => {
    const person = await open();
    const { page } = person;
    const note = page.getByText('Public broker: anyone can read every message in public rooms');
    expect(await note.count()).toBe(0);
    await openSettings(page);
    await page.getByLabel('Broker', { exact: true }).selectOption({ label: 'broker.emqx.io (public)' });
    expect(await page.getByLabel('Broker URL', { exact: true }).inputValue()).toBe(
      'wss://broker.emqx.io:8084/mqtt',
    );
    await note.waitFor();
    // Any URL on a public preset's host counts, whatever the select says.
    await page.getByLabel('Broker URL', { exact: true }).fill('ws://broker.hivemq.com:8000/mqtt');
    await note.waitFor();
    expect(await page.getByLabel('Broker', { exact: true }).inputValue()).toBe('custom');
    await page.getByLabel('Broker URL', { exact: true }).fill(broker.urls.ws);
    await until(async () => (await note.count()) === 0, 'the note gone');
    // The prefix is checked before anything is sent.
    await fillJoin(person, 'Alice', { prefix: 'bad prefix/' });
    await page.getByText('Use 1–4 levels of letters, digits, - and _').waitFor();
    expect(
      await page.getByLabel('Topic prefix', { exact: true }).evaluate((el) => el === document.activeElement),
    ).toBe(true);
    await page.getByText('The password is not saved').waitFor();
    await done();
  });

  it('(a) a share link opens the app on its broker and room; the copied link has no credentials', async () => {
    const room = 'shared-room';
    const link = new URL(site.url);
    link.searchParams.set('broker', broker.urls.ws);
    link.searchParams.set('room', room);
    const alice = await open(link.href, CLIPBOARD);
    expect(await alice.page.getByLabel('Broker URL', { exact: true }).inputValue()).toBe(broker.urls.ws);
    expect(await alice.page.getByLabel('Room', { exact: true }).inputValue()).toBe(room);
    // An open broker ignores credentials: they are sent, but must never end up in a link or a setting.
    await join(alice, 'Alice', { username: 'alice-user', password: 'sekret-pw' });
    await alice.page.getByRole('heading', { name: room, exact: true }).waitFor();
    await sendMessage(alice.page, 'hello from the link');
    await sees(alice, 'hello from the link');

    const copied = await copyLink(alice.page);
    const params = new URL(copied).searchParams;
    expect(copied.startsWith(site.url)).toBe(true);
    expect(params.get('broker')).toBe(new URL(broker.urls.ws).href);
    expect(params.get('room')).toBe(room);
    expect(params.has('prefix')).toBe(false);
    for (const secret of ['sekret', 'alice-user', 'password', 'username'])
      expect(copied).not.toContain(secret);

    // Bob opens the copied link: prefilled, he joins and they chat.
    const bob = await open(copied);
    expect(await bob.page.getByLabel('Room', { exact: true }).inputValue()).toBe(room);
    await join(bob, 'Bob', {});
    await sees(bob, 'hello from the link');
    await sendMessage(bob.page, 'hi Alice');
    await sees(alice, 'hi Alice');

    // Without clipboard access the link is shown, selected, to copy by hand.
    const carol = await open(copied);
    await carol.page.evaluate(() => Object.defineProperty(navigator, 'clipboard', { value: undefined }));
    await join(carol, 'Carol', {});
    await carol.page.getByRole('button', { name: 'Copy link' }).click();
    const field = carol.page.getByLabel('Link to this room');
    await field.waitFor();
    expect(await field.inputValue()).toBe(copied);
    expect(await field.evaluate((el) => (el as HTMLInputElement).selectionEnd)).toBe(copied.length);

    // A reload offers the user name again, never the password.
    await alice.page.goto(site.url);
    await openSettings(alice.page);
    expect(await alice.page.getByLabel('User name', { exact: true }).inputValue()).toBe('alice-user');
    expect(await alice.page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    expect(await alice.page.getByLabel('Broker URL', { exact: true }).inputValue()).toBe(
      new URL(broker.urls.ws).href,
    );
    const stored = await alice.page.evaluate(async () => {
      const names = (await indexedDB.databases()).flatMap((db) => (db.name ? [db.name] : []));
      const dump: string[] = [];
      for (const name of names) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const request = indexedDB.open(name);
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        for (const store of db.objectStoreNames) {
          const all = await new Promise<unknown[]>((resolve, reject) => {
            const request = db.transaction(store).objectStore(store).getAll();
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
          });
          dump.push(JSON.stringify(all));
        }
        db.close();
      }
      return dump.join('\n');
    });
    expect(stored).toContain('alice-user');
    expect(stored).not.toContain('sekret-pw');
    await done();
  });

  it('(b) Mosquitto with a password file: a wrong password is refused, the right one chats', async () => {
    const mosquitto = await startMosquitto({ users: { alice: 'pw' } });
    try {
      const wrong = await open();
      await fillJoin(wrong, 'Mallory', { broker: mosquitto.urls.ws, username: 'alice', password: 'nope' });
      await wrong.page.getByRole('status').getByText(REFUSED).waitFor({ timeout: 15_000 });

      const alice = await open();
      const bob = await open();
      const settings = {
        broker: mosquitto.urls.ws,
        room: 'with-password',
        username: 'alice',
        password: 'pw',
      };
      await join(alice, 'Alice', settings);
      await join(bob, 'Bob', settings);
      await alice.page.getByRole('status').getByText('MQTT 5').waitFor();
      await sendMessage(alice.page, 'signed in with a password');
      await sees(bob, 'signed in with a password');
      await sendMessage(bob.page, 'me too');
      await sees(alice, 'me too');
      await done();
    } finally {
      await mosquitto.close();
    }
  });

  it('(c) the bundled broker with --auth: "Sign in with my key" chats, without it the login is refused', async () => {
    const authBroker = await startBroker({ port: 0, wsPort: 0, memory: true, auth: true, logger: 'quiet' });
    try {
      const alice = await open();
      const bob = await open();
      const settings = { broker: authBroker.urls.ws, room: 'signed-in', login: true };
      await join(alice, 'Alice', settings);
      await join(bob, 'Bob', settings);
      await sendMessage(alice.page, 'signed with my key');
      await sees(bob, 'signed with my key');
      await sendMessage(bob.page, 'so am I');
      await sees(alice, 'so am I');

      const anonymous = await open();
      await fillJoin(anonymous, 'Anon', { broker: authBroker.urls.ws, room: 'signed-in' });
      await anonymous.page.getByRole('status').getByText(REFUSED).waitFor({ timeout: 15_000 });

      // The key replaces the user name and password: those fields are off while it is on.
      const form = await open();
      await openSettings(form.page);
      await form.page.getByLabel('Sign in with my key (authenticated broker)').check();
      expect(await form.page.getByLabel('User name', { exact: true }).isDisabled()).toBe(true);
      expect(await form.page.getByLabel('Password', { exact: true }).isDisabled()).toBe(true);
      await done();
    } finally {
      await authBroker.close();
    }
  });

  it('(d) a custom prefix: two people on "acme" see each other, the default prefix does not', async () => {
    const room = 'prefixed';
    const alice = await open(site.url, CLIPBOARD);
    const bob = await open();
    const carol = await open();
    await join(alice, 'Alice', { broker: broker.urls.ws, room, prefix: 'acme' });
    await join(bob, 'Bob', { broker: broker.urls.ws, room, prefix: 'acme' });
    await join(carol, 'Carol', { broker: broker.urls.ws, room });
    await sendMessage(carol.page, 'default prefix here');
    await sees(carol, 'default prefix here');
    await sendMessage(alice.page, 'acme only');
    await sees(bob, 'acme only');
    await sendMessage(bob.page, 'acme reply');
    await sees(alice, 'acme reply');
    await sees(bob, 'acme reply');
    // Give anything leaking across prefixes time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await messageTexts(alice.page)).toEqual(['acme only', 'acme reply']);
    expect(await messageTexts(bob.page)).toEqual(['acme only', 'acme reply']);
    expect(await messageTexts(carol.page)).toEqual(['default prefix here']);
    expect(
      await alice.page
        .getByRole('region', { name: /^Online/ })
        .getByText('Carol')
        .count(),
    ).toBe(0);
    // The prefix travels in the share link.
    expect(new URL(await copyLink(alice.page)).searchParams.get('prefix')).toBe('acme');
    await done();
  });
});
