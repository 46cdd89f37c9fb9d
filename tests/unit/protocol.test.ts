import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/protocol/bytes.ts';
import { canonicalJson } from '../../src/protocol/canonical.ts';
import { clampTimestamp, compareMessages, pageForNewMessage, PAGE_SIZE } from '../../src/protocol/history.ts';
import { fingerprint, isUserId, makeMessageId } from '../../src/protocol/ids.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { cleanName, cleanText } from '../../src/protocol/names.ts';
import { isRoomName, normaliseRoomName } from '../../src/protocol/rooms.ts';
import { parseTopic, topics } from '../../src/protocol/topics.ts';

describe('topics', () => {
  const t = topics('mqchat');
  const id = 'a'.repeat(32);

  it('builds and parses every topic under the prefix (TOPIC-1)', () => {
    expect(t.message('lobby', 3, id)).toBe(`mqchat/v1/room/lobby/msg/3/${id}`);
    expect(parseTopic('mqchat', t.message('lobby', 3, id))).toEqual({
      kind: 'message',
      room: 'lobby',
      page: 3,
      id,
    });
    expect(parseTopic('mqchat', t.head('lobby'))).toEqual({ kind: 'head', room: 'lobby' });
    expect(parseTopic('mqchat', t.page('lobby', 7))).toEqual({ kind: 'page', room: 'lobby', page: 7 });
  });

  it('returns undefined for anything it does not recognise (TOPIC-2)', () => {
    const bad = [
      `other/v1/room/lobby/msg/0/${id}`,
      `mqchat/v2/room/lobby/msg/0/${id}`,
      `mqchat/v1/room/Lobby/msg/0/${id}`,
      `mqchat/v1/room/lobby/msg/01/${id}`,
      `mqchat/v1/room/lobby/msg/-1/${id}`,
      `mqchat/v1/room/lobby/msg/99999999999/${id}`,
      `mqchat/v1/room/lobby/msg/0/${id}/x`,
      `mqchat/v1/room/lobby/msg/0/XYZ`,
      'mqchat/v1/room/lobby/head/x',
      'mqchat/v1/room//head',
      'chat/lobby/alice',
    ];
    for (const topic of bad) expect(parseTopic('mqchat', topic), topic).toBeUndefined();
  });

  it('refuses a prefix with wildcards or empty levels', () => {
    for (const prefix of ['', 'a/+', 'a/#', '/a', 'a//b', '$SYS']) expect(() => topics(prefix)).toThrow();
    expect(topics('acme/chat').head('x')).toBe('acme/chat/v1/room/x/head');
  });
});

describe('rooms (ROOM-1, ROOM-2)', () => {
  it('normalises case, width and spaces', () => {
    expect(normaliseRoomName('  Lobby  ')).toEqual({ ok: true, room: 'lobby' });
    expect(normaliseRoomName('Ｌｏｂｂｙ')).toEqual({ ok: true, room: 'lobby' });
    expect(normaliseRoomName('coffee break')).toEqual({ ok: true, room: 'coffee-break' });
    expect(normaliseRoomName('雑談')).toEqual({ ok: true, room: '雑談' });
  });

  it('rejects empty, long and topic-breaking names with a reason', () => {
    expect(normaliseRoomName('   ')).toEqual({ ok: false, error: 'empty' });
    expect(normaliseRoomName('x'.repeat(33))).toEqual({ ok: false, error: 'too-long' });
    for (const name of ['a/b', 'a+', '#', '$sys', '-x', 'a\u0000b']) {
      expect(normaliseRoomName(name)).toEqual({ ok: false, error: 'invalid' });
    }
    expect(isRoomName('Lobby')).toBe(false);
    expect(isRoomName('lobby')).toBe(true);
  });
});

describe('names and text (NAME-1, MSG-3)', () => {
  it('removes bidi overrides and invisible characters and caps the length', () => {
    expect(cleanName(' Al\u202eice\u200b ')).toBe('Alice');
    expect(cleanName('a   b')).toBe('a b');
    expect([...cleanName('名'.repeat(100))].length).toBe(40);
  });

  it('keeps new lines in message text but drops other controls', () => {
    expect(cleanText('a\nb\tc\u0007\u202e')).toBe('a\nb\tc');
  });
});

describe('ids and keys (ID-1, ID-3, ENV-3)', () => {
  it('makes 32-hex message ids from the given randomness', () => {
    expect(makeMessageId((n) => new Uint8Array(n).fill(171))).toBe('ab'.repeat(16));
  });

  it('derives the user id from the public key, with a short fingerprint', async () => {
    const identity = await generateIdentity();
    expect(isUserId(identity.userId)).toBe(true);
    expect(identity.privateKey.extractable).toBe(false);
    expect(fingerprint(identity.userId)).toMatch(/^.{4}·.{4}$/);
  });

  it('round-trips base64url and rejects non-canonical encodings', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253]);
    expect(fromBase64url(toBase64url(bytes))).toEqual(bytes);
    expect(fromBase64url('AB')).toBeUndefined();
    expect(fromBase64url('a+b/')).toBeUndefined();
  });

  it('serialises canonically and refuses non-integers', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}');
    expect(() => canonicalJson({ a: 0.5 })).toThrow();
  });
});

describe('history (HIST-2, MSG-5)', () => {
  it('opens a new page once the head holds PAGE_SIZE messages', () => {
    expect(pageForNewMessage(4, PAGE_SIZE - 1)).toBe(4);
    expect(pageForNewMessage(4, PAGE_SIZE)).toBe(5);
  });

  it('orders by timestamp then id, and clamps future timestamps', () => {
    const list = [
      { ts: 2, id: 'b' },
      { ts: 1, id: 'z' },
      { ts: 2, id: 'a' },
    ].sort(compareMessages);
    expect(list.map((m) => m.id)).toEqual(['z', 'a', 'b']);
    expect(clampTimestamp(10_000_000, 1000, 60_000)).toBe(61_000);
    expect(clampTimestamp(500, 1000, 60_000)).toBe(500);
  });
});

describe('cleaning is a fixed point, so what a sender cleans every receiver accepts (NAME-1, MSG-3)', () => {
  it('holds for names cut after a space, and for removed characters between a letter and its accent', () => {
    const cases = [`${'a'.repeat(39)} b`, 'a\u200b\u0301', 'e\u202e\u0301x', ' \u00a0x\u2060 '];
    for (const input of cases) {
      const once = cleanName(input);
      expect(cleanName(once), JSON.stringify(input)).toBe(once);
    }
    for (const input of ['a\u0007\u0301', 'x\u202a\u0308y']) {
      const once = cleanText(input);
      expect(cleanText(once), JSON.stringify(input)).toBe(once);
    }
  });
});
