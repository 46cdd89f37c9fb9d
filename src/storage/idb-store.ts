import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { Identity } from '../protocol/keys.ts';
import type { Cursor, Store, StoredMessage } from './store.ts';

interface Schema extends DBSchema {
  messages: {
    key: string;
    value: StoredMessage;
    indexes: { timeline: [string, number, string]; state: string };
  };
  identity: { key: string; value: Identity };
  settings: { key: string; value: unknown };
}

const HIGHEST_ID = '\uffff';

/** IndexedDB through idb; the only file in src/ that imports it. */
export class IdbStore implements Store {
  readonly #db: IDBPDatabase<Schema>;

  private constructor(db: IDBPDatabase<Schema>) {
    this.#db = db;
  }

  static async open(name = 'mqchat'): Promise<IdbStore> {
    const db = await openDB<Schema>(name, 1, {
      upgrade(db) {
        const messages = db.createObjectStore('messages', { keyPath: 'id' });
        messages.createIndex('timeline', ['room', 'sortTs', 'id']);
        messages.createIndex('state', 'state');
        db.createObjectStore('identity');
        db.createObjectStore('settings');
      },
    });
    return new IdbStore(db);
  }

  async putMessages(messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const tx = this.#db.transaction('messages', 'readwrite');
    await Promise.all([...messages.map((message) => tx.store.put(message)), tx.done]);
  }

  getMessage(id: string): Promise<StoredMessage | undefined> {
    return this.#db.get('messages', id);
  }

  async getMessagesById(ids: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    if (ids.length === 0) return [];
    const tx = this.#db.transaction('messages');
    const found = await Promise.all(ids.map((id) => tx.store.get(id)));
    await tx.done;
    return found;
  }

  async getMessages(room: string, options: { limit: number; before?: Cursor }): Promise<StoredMessage[]> {
    const upper = options.before
      ? IDBKeyRange.bound(
          [room, -Infinity, ''],
          [room, options.before.sortTs, options.before.id],
          false,
          true,
        )
      : IDBKeyRange.bound([room, -Infinity, ''], [room, Infinity, HIGHEST_ID]);
    const out: StoredMessage[] = [];
    let cursor = await this.#db.transaction('messages').store.index('timeline').openCursor(upper, 'prev');
    while (cursor && out.length < options.limit) {
      out.push(cursor.value);
      cursor = await cursor.continue();
    }
    return out.reverse();
  }

  async getPending(): Promise<StoredMessage[]> {
    const pending = await this.#db.getAllFromIndex('messages', 'state', 'pending');
    return pending.sort((a, b) => a.sortTs - b.sortTs);
  }

  getIdentity(): Promise<Identity | undefined> {
    return this.#db.get('identity', 'self');
  }

  async putIdentity(identity: Identity): Promise<void> {
    await this.#db.put('identity', identity, 'self');
  }

  async getSetting<T>(key: string): Promise<T | undefined> {
    return (await this.#db.get('settings', key)) as T | undefined;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await this.#db.put('settings', value, key);
  }

  close(): void {
    this.#db.close();
  }
}
