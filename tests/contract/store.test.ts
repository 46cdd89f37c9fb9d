import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { IdbStore } from '../../src/storage/idb-store.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import type { Store, StoredMessage } from '../../src/storage/store.ts';

/** One store suite for both stores; IndexedDB runs on fake-indexeddb here and for real in Chromium E2E. */
const message = (overrides: Partial<StoredMessage> = {}): StoredMessage => ({
  room: 'lobby',
  page: 0,
  id: '0'.repeat(32),
  from: 'A'.repeat(43),
  name: 'Alice',
  ts: 1000,
  sortTs: 1000,
  text: 'hi',
  sig: 'S'.repeat(86),
  state: 'sent',
  ...overrides,
});

const hex = (n: number) => n.toString(16).padStart(32, '0');

let dbs = 0;
const stores: [string, () => Promise<Store>][] = [
  ['memory', async () => new MemoryStore()],
  ['idb', () => IdbStore.open(`test-${dbs++}`)],
];

describe.each(stores)('store contract: %s', (_name, open) => {
  it('keeps one copy per id (duplicates collapse)', async () => {
    const store = await open();
    await store.putMessages([message(), message({ text: 'hi again' })]);
    const all = await store.getMessages('lobby', { limit: 10 });
    expect(all.map((m) => m.text)).toEqual(['hi again']);
  });

  it('pages a room newest-first by (sortTs, id), oldest first within a page', async () => {
    const store = await open();
    const list = Array.from({ length: 30 }, (_, i) =>
      message({ id: hex(i), sortTs: 1000 + Math.floor(i / 2) }),
    );
    await store.putMessages([...list].reverse());
    await store.putMessages([message({ id: hex(99), room: 'other' })]);
    const newest = await store.getMessages('lobby', { limit: 10 });
    expect(newest.map((m) => m.id)).toEqual(list.slice(20).map((m) => m.id));
    const older = await store.getMessages('lobby', { limit: 10, before: newest[0]! });
    expect(older.map((m) => m.id)).toEqual(list.slice(10, 20).map((m) => m.id));
  });

  it('lists the outbox', async () => {
    const store = await open();
    await store.putMessages([message({ id: hex(1), state: 'pending' }), message({ id: hex(2) })]);
    expect((await store.getPending()).map((m) => m.id)).toEqual([hex(1)]);
  });

  it('keeps the identity and settings', async () => {
    const store = await open();
    const identity = await generateIdentity();
    await store.putIdentity(identity);
    expect((await store.getIdentity())?.userId).toBe(identity.userId);
    await store.putSetting('name', 'Alice');
    expect(await store.getSetting('name')).toBe('Alice');
    expect(await store.getSetting('missing')).toBeUndefined();
  });
});
