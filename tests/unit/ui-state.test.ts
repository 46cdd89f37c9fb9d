// Pure state helpers of the web app: timeline merging and windowing, unread counting, reactions,
// the join form and the translations.
import { describe, expect, it } from 'vitest';
import { detectLanguage, format, Locale } from '../../src/lib/i18n/index.svelte.ts';
import { en } from '../../src/lib/i18n/en.ts';
import { ja } from '../../src/lib/i18n/ja.ts';
import { generateExportableIdentity } from '../../src/protocol/backup.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import {
  exportIdentityFile,
  identityFileName,
  IdentityFileError,
  importIdentityFile,
  isExportable,
} from '../../src/state/identity-file.ts';
import {
  checkJoin,
  checkRoomList,
  CUSTOM,
  defaultBrokerUrl,
  defaultPrefix,
  isPublicBroker,
  prefill,
  presetFor,
  type JoinInput,
} from '../../src/state/join-form.ts';
import { reactionsView } from '../../src/state/reactions-view.ts';
import { timelineView, type Notice } from '../../src/state/timeline-items.ts';
import { mergeBatch } from '../../src/state/timeline-merge.ts';
import { Timeline } from '../../src/state/timeline.svelte.ts';
import { newestTs, setOf, unreadIn } from '../../src/state/unread.ts';
import { byTimeline, type StoredMessage } from '../../src/storage/store.ts';

const msg = (id: string, sortTs: number, over: Partial<StoredMessage> = {}): StoredMessage => ({
  room: 'r',
  page: 0,
  id,
  from: 'u',
  name: 'n',
  ts: sortTs,
  sortTs,
  text: id,
  sig: `s${id}`,
  state: 'sent',
  ...over,
});

const notice = (id: string, ts: number): Notice => ({ id, kind: 'join', user: 'b', name: 'Bob', ts });

describe('the timeline', () => {
  it('merges batches in any order into (sortTs, id) order, once per id', () => {
    const timeline = new Timeline();
    const all = Array.from({ length: 500 }, (_, i) => msg(`${String(i).padStart(4, '0')}x`, (i * 7919) % 50));
    const shuffled = [...all].sort(
      (a, b) => ((a.id.charCodeAt(2) * 31 + a.sortTs) % 17) - ((b.id.charCodeAt(2) * 31 + b.sortTs) % 17),
    );
    for (let i = 0; i < shuffled.length; i += 37)
      timeline.merge([...shuffled.slice(i, i + 37), ...shuffled.slice(0, 5)]);
    expect(timeline.messages.map((m) => m.id)).toEqual([...all].sort(byTimeline).map((m) => m.id));
  });

  it('replaces a changed message in place and skips a batch that changes nothing', () => {
    const timeline = new Timeline();
    timeline.merge([msg('a', 1), msg('b', 2, { state: 'pending' }), msg('c', 3)]);
    const before = timeline.messages;
    timeline.merge([msg('a', 1)]);
    expect(timeline.messages).toBe(before);
    timeline.merge([msg('b', 2, { state: 'sent' })]);
    expect(timeline.messages.map((m) => [m.id, m.state])).toEqual([
      ['a', 'sent'],
      ['b', 'sent'],
      ['c', 'sent'],
    ]);
  });

  it('prepends older history and appends newer messages', () => {
    const first = mergeBatch([], [], [msg('m', 10)]);
    const next = mergeBatch(first?.messages ?? [], first?.byId ?? [], [msg('z', 20), msg('a', 1)]);
    expect(next?.messages.map((m) => m.id)).toEqual(['a', 'm', 'z']);
  });

  it('finds a message by id, as last merged, and nothing for an id it never had', () => {
    const timeline = new Timeline();
    const all = Array.from({ length: 300 }, (_, i) => msg(`id${(i * 7919) % 300}`, 1000 - i));
    for (let i = 0; i < all.length; i += 50) timeline.merge(all.slice(i, i + 50));
    for (const message of all) expect(timeline.get(message.id)).toBe(message);
    const edited = msg('id7', 1000, { text: 'edited', sig: 'other' });
    timeline.merge([edited, msg('new', 5)]);
    expect(timeline.get('id7')).toBe(edited);
    expect(timeline.get('new')?.sortTs).toBe(5);
    expect([timeline.get('id'), timeline.get('id99x'), timeline.get('')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(timeline.size).toBe(301);
    timeline.clear();
    expect(timeline.get('id7')).toBeUndefined();
  });
});

describe('the rendered timeline window', () => {
  const day = 86_400_000;
  const base = new Date(2025, 0, 10, 12).getTime();

  it('merges join notices with messages by time and divides days', () => {
    const view = timelineView(
      [msg('a', base), msg('b', base + 2000), msg('c', base + day)],
      [notice('n1', base + 1000), notice('n2', base + day + 5)],
      300,
    );
    expect(view.items.map((item) => item.key)).toEqual([
      `day-${base}`,
      'a',
      'n1',
      'b',
      `day-${base + day}`,
      'c',
      'n2',
    ]);
    expect(view.hidden).toBe(0);
  });

  it('renders only the newest `limit` shown messages and the notices from there on', () => {
    const messages = Array.from({ length: 10 }, (_, i) => msg(`m${i}`, base + i * 1000));
    const view = timelineView(
      messages,
      [notice('old', base + 500), notice('new', base + 8500)],
      3,
      (m) => m.id !== 'm9',
    );
    expect(view.items.filter((item) => item.kind !== 'day').map((item) => item.key)).toEqual([
      'm6',
      'm7',
      'm8',
      'new',
    ]);
    expect(view.hidden).toBe(6);
  });

  it('hands back the same item objects for rows that did not change, so only new rows re-render', () => {
    const a = msg('a', base);
    const b = msg('b', base + 1000);
    const n = notice('n', base + 500);
    const first = timelineView([a, b], [n], 300);
    // Measured by the list.
    for (const item of first.items) item.height = 40;
    const sentB = { ...b, state: 'sent' as const };
    const next = timelineView([a, sentB, msg('c', base + 2000)], [n], 300, undefined, first.items);
    const same = next.items.filter((item, i) => item === first.items[i]).map((item) => item.key);
    expect(same).toEqual([`day-${base}`, 'a', 'n']);
    expect(next.items.map((item) => item.key)).toEqual([`day-${base}`, 'a', 'n', 'b', 'c']);
    // b's row re-renders at the height measured before (the ResizeObserver reports only changes).
    expect(next.items.map((item) => item.height)).toEqual([40, 40, 40, 40, undefined]);
  });

  it('pairs old items with messages walking both in order: history above, edits, removals, muting', () => {
    const messages = Array.from({ length: 8 }, (_, i) => msg(`m${i}`, base + 10_000 + i * 1000));
    const notices = [notice('n', base + 12_500)];
    const first = timelineView(messages.slice(4), notices, Infinity);
    // The list records measured heights on the items.
    for (const item of first.items) item.height = item.key.length;
    const before = new Map(first.items.map((item) => [item.key, item]));
    const reused = (items: typeof first.items) =>
      items.filter((item) => item === before.get(item.key)).map((item) => item.key);

    // Older history prepended.
    const all = timelineView(messages, notices, Infinity, undefined, first.items);
    expect(all.items.map((item) => item.key)).toEqual([
      `day-${base + 10_000}`,
      'm0',
      'm1',
      'm2',
      'n',
      'm3',
      'm4',
      'm5',
      'm6',
      'm7',
    ]);
    expect(reused(all.items)).toEqual(['n', 'm4', 'm5', 'm6', 'm7']);

    // One in the middle edited, one removed (m2), one hidden (m6, its author muted).
    const edited = { ...messages[5]!, text: 'edited', sig: 'other' };
    const changed = [...messages.slice(0, 2), messages[3]!, messages[4]!, edited, messages[6]!, messages[7]!];
    const shown = (m: StoredMessage) => m.id !== 'm6';
    const next = timelineView(changed, notices, Infinity, shown, all.items);
    expect(next.items.map((item) => item.key)).toEqual([
      `day-${base + 10_000}`,
      'm0',
      'm1',
      'n',
      'm3',
      'm4',
      'm5',
      'm7',
    ]);
    const kept = next.items.filter((item) => all.items.includes(item)).map((item) => item.key);
    expect(kept).toEqual([`day-${base + 10_000}`, 'm0', 'm1', 'n', 'm3', 'm4', 'm7']);
    // The edited message is a new item that keeps its row's measured height.
    const m5 = next.items.find((item) => item.key === 'm5')!;
    expect(m5).not.toBe(before.get('m5'));
    expect(m5.kind === 'message' && m5.message).toBe(edited);
    expect(m5.height).toBe(2);

    // A message whose place changed (sortTs) is paired by key: a new item, same height.
    const moved = { ...messages[7]!, sortTs: base + 10_500 };
    const resorted = [messages[0]!, moved, ...messages.slice(1, 7)];
    const after = timelineView(resorted, notices, Infinity, undefined, next.items);
    expect(after.items.map((item) => item.key).slice(0, 4)).toEqual([
      `day-${base + 10_000}`,
      'm0',
      'm7',
      'm1',
    ]);
    expect(after.items[2]!.height).toBe(2);
    expect(after.items[3]).toBe(next.items[2]);
  });
});

describe('unread counting', () => {
  const known = new Set(['old']);
  const isKnown = (id: string) => known.has(id);

  it('counts new messages from others after the read mark, once each', () => {
    const batch = [
      msg('old', 50, { from: 'bob' }),
      msg('x', 40, { from: 'bob' }),
      msg('y', 60, { from: 'bob' }),
      msg('y', 60, { from: 'bob' }),
      msg('mine', 70, { from: 'me' }),
      msg('gone', 80, { from: 'bob', deleted: true }),
      msg('noisy', 90, { from: 'troll' }),
    ];
    expect(unreadIn(batch, isKnown, 'me', 45, setOf(['troll'])).map((m) => m.id)).toEqual(['y']);
  });

  it('moves the read mark to the newest message, never back', () => {
    expect(newestTs([msg('a', 5), msg('b', 9)], 7)).toBe(9);
    expect(newestTs([msg('a', 5)], 7)).toBe(7);
    expect(newestTs([], 7)).toBe(7);
  });
});

describe('reactions as shown', () => {
  it('splits likes from emoji, keeps the fixed order, leaves muted people out and marks mine', () => {
    const view = reactionsView(
      { like: ['me', 'bob'], '🙏': ['bob'], '👍': ['troll'], '😂': ['troll', 'me'] },
      'me',
      setOf(['troll']),
    );
    expect(view.like).toEqual({ reaction: 'like', users: ['me', 'bob'], mine: true });
    expect(view.others).toEqual([
      { reaction: '😂', users: ['me'], mine: true },
      { reaction: '🙏', users: ['bob'], mine: false },
    ]);
    expect(reactionsView(undefined, 'me', setOf([]))).toEqual({
      like: { reaction: 'like', users: [], mine: false },
      others: [],
    });
  });
});

describe('the join form', () => {
  const input = (over: Partial<JoinInput>): JoinInput => ({
    name: 'a',
    room: 'a',
    url: 'ws://h:1',
    preset: CUSTOM,
    username: '',
    password: '',
    login: false,
    prefix: 'mqchat',
    ...over,
  });

  it('cleans the name, normalises the room and checks the URL and prefix', () => {
    expect(
      checkJoin(input({ name: '  Al\u200bice ', room: ' My Room ', prefix: ' acme/x ' }), 'http:'),
    ).toEqual({
      ok: true,
      value: input({ name: 'Alice', room: 'my-room', url: 'ws://h:1/', prefix: 'acme/x' }),
    });
    expect(
      checkJoin(input({ name: ' ', room: 'a/b', url: 'http://x', prefix: 'a/b/c/d/e' }), 'http:'),
    ).toEqual({
      ok: false,
      errors: { name: 'empty', room: 'invalid', url: 'invalid-url', prefix: 'invalid' },
    });
    expect(checkJoin(input({ prefix: '' }), 'http:')).toEqual({ ok: false, errors: { prefix: 'invalid' } });
    expect(checkJoin(input({ prefix: 'a b' }), 'http:')).toEqual({
      ok: false,
      errors: { prefix: 'invalid' },
    });
    expect(checkJoin(input({ url: 'ws://example.com' }), 'https:')).toEqual({
      ok: false,
      errors: { url: 'mixed-content' },
    });
  });

  it('keeps the user name and password, or drops them when the key signs in', () => {
    const plain = checkJoin(input({ username: 'alice', password: 'pw' }), 'http:');
    expect(plain.ok && [plain.value.username, plain.value.password, plain.value.login]).toEqual([
      'alice',
      'pw',
      false,
    ]);
    const key = checkJoin(input({ username: 'alice', password: 'pw', login: true }), 'http:');
    expect(key.ok && [key.value.username, key.value.password, key.value.login]).toEqual(['', '', true]);
  });

  it('knows the presets and which brokers are public', () => {
    expect(presetFor('wss://broker.emqx.io:8084/mqtt')).toBe('emqx');
    expect(presetFor(' ws://localhost:8888 ')).toBe('local');
    expect(presetFor('wss://broker.emqx.io:8084/other')).toBe(CUSTOM);
    expect(presetFor('not a url')).toBe(CUSTOM);
    expect(isPublicBroker('wss://test.mosquitto.org:8081/mqtt')).toBe(true);
    expect(isPublicBroker('ws://BROKER.HIVEMQ.COM:8000/mqtt')).toBe(true);
    expect(isPublicBroker('ws://localhost:8888')).toBe(false);
    expect(isPublicBroker('wss://chat.example.org/mqtt')).toBe(false);
    expect(isPublicBroker('')).toBe(false);
    expect(defaultPrefix(undefined)).toBe('mqchat');
    expect(defaultPrefix(' acme ')).toBe('acme');
    expect(defaultPrefix('not valid/')).toBe('mqchat');
  });

  it('prefills from the link, then the last visit, then defaults; never a password', () => {
    expect(defaultBrokerUrl(undefined, '127.0.0.1')).toBe('ws://127.0.0.1:8888');
    expect(defaultBrokerUrl('', 'localhost')).toBe('ws://localhost:8888');
    expect(defaultBrokerUrl(undefined, 'chat.example.org')).toBe('ws://localhost:8888');
    expect(defaultBrokerUrl('wss://b.example/mqtt', 'x')).toBe('wss://b.example/mqtt');
    const defaults = { url: 'ws://d', prefix: 'team' };
    const saved = {
      name: 'A',
      room: 'old',
      url: 'ws://saved/',
      preset: CUSTOM,
      username: 'alice',
      login: true,
      prefix: 'acme',
    };
    expect(prefill({}, '', defaults)).toEqual({
      name: '',
      room: 'lobby',
      url: 'ws://d',
      preset: CUSTOM,
      username: '',
      password: '',
      login: false,
      prefix: 'team',
    });
    expect(prefill(saved, '', defaults)).toEqual({ ...saved, password: '' });
    // A link to another broker: its room and prefix (absent = 'mqchat'), not the saved credentials.
    expect(prefill(saved, '?broker=wss%3A%2F%2Fbroker.emqx.io%3A8084%2Fmqtt&room=new', defaults)).toEqual({
      name: 'A',
      room: 'new',
      url: 'wss://broker.emqx.io:8084/mqtt',
      preset: 'emqx',
      username: '',
      password: '',
      login: false,
      prefix: 'mqchat',
    });
    // A link to the saved broker keeps the user name; its prefix wins.
    expect(prefill(saved, '?broker=ws%3A%2F%2Fsaved&room=new&prefix=x%2Fy', defaults)).toMatchObject({
      url: 'ws://saved',
      username: 'alice',
      login: true,
      prefix: 'x/y',
    });
    // A room alone keeps everything else; invalid values are ignored.
    expect(prefill(saved, '?room=r2&prefix=bad%20one&broker=http%3A%2F%2Fx', defaults)).toMatchObject({
      room: 'r2',
      url: 'ws://saved/',
      prefix: 'acme',
    });
    // A saved preset that no longer matches the URL gives way to the URL's own.
    expect(prefill({ url: 'ws://localhost:8888', preset: 'emqx' }, '', defaults).preset).toBe('local');
  });
});

describe('translations', () => {
  it('detects the language and fills placeholders', () => {
    expect(detectLanguage(['ja-JP', 'en'])).toBe('ja');
    expect(detectLanguage(['en-US', 'ja'])).toBe('en');
    expect(detectLanguage([])).toBe('en');
    expect(format('a {x} {y}', { x: 1 })).toBe('a 1 {y}');
    const locale = new Locale('en', 'en-GB');
    expect(locale.t('composer.send')).toBe('Send');
    expect(locale.dateLocale).toBe('en-GB');
    locale.lang = 'ja';
    expect(locale.t('composer.send')).toBe('送信');
    expect(locale.dateLocale).toBe('ja');
  });

  it('has every English string in Japanese, with the same placeholders', () => {
    expect(Object.keys(ja).sort()).toEqual(Object.keys(en).sort());
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(ja[key]), key).toEqual(placeholders(en[key]));
    }
  });
});

describe('identity files', () => {
  it('round-trips an exportable identity and says what went wrong otherwise', async () => {
    const identity = await generateExportableIdentity();
    expect(isExportable(identity)).toBe(true);
    const file = await exportIdentityFile(identity, 'correct horse', 1000);
    expect((await importIdentityFile(file, 'correct horse')).userId).toBe(identity.userId);
    await expect(importIdentityFile(file, 'wrong')).rejects.toEqual(new IdentityFileError('passphrase'));
    await expect(importIdentityFile(new Blob(['{}']), 'x')).rejects.toMatchObject({ problem: 'format' });
    const old = await generateIdentity();
    expect(isExportable(old)).toBe(false);
    await expect(exportIdentityFile(old, 'x')).rejects.toMatchObject({ problem: 'not-exportable' });
    expect(identityFileName(identity.userId)).toBe(`mqchat-identity-${identity.userId.slice(0, 8)}.json`);
  });
});

describe('the New room field', () => {
  it('takes one room or a comma-separated list, normalised, without repeats', () => {
    expect(checkRoomList(' My Room ')).toEqual({ ok: true, rooms: ['my-room'] });
    expect(checkRoomList('news, Random ,news,')).toEqual({ ok: true, rooms: ['news', 'random'] });
    expect(checkRoomList('news, a/b')).toEqual({ ok: false, error: 'invalid', part: 'a/b' });
    expect(checkRoomList(' ')).toEqual({ ok: false, error: 'empty', part: '' });
    expect(checkRoomList(',')).toEqual({ ok: false, error: 'empty', part: '' });
  });
});
