import type { Identity } from '../protocol/keys.ts';
import { byTimeline, type Cursor, type Store, type StoredMessage } from './store.ts';

/** The in-memory twin of the IndexedDB store, for tests and for browsers without IndexedDB. */
export class MemoryStore implements Store {
  readonly #messages = new Map<string, StoredMessage>();
  readonly #settings = new Map<string, unknown>();
  #identity: Identity | undefined;

  async putMessages(messages: StoredMessage[]): Promise<void> {
    for (const message of messages) this.#messages.set(message.id, structuredClone(message));
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    const message = this.#messages.get(id);
    return message && structuredClone(message);
  }

  async getMessagesById(ids: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    return ids.map((id) => {
      const message = this.#messages.get(id);
      return message && structuredClone(message);
    });
  }

  async getMessages(room: string, options: { limit: number; before?: Cursor }): Promise<StoredMessage[]> {
    const { before } = options;
    const matching = [...this.#messages.values()]
      .filter((m) => m.room === room && (before === undefined || byTimeline(m, before) < 0))
      .sort(byTimeline);
    return structuredClone(matching.slice(Math.max(0, matching.length - options.limit)));
  }

  async getPending(): Promise<StoredMessage[]> {
    return [...this.#messages.values()].filter((m) => m.state === 'pending').sort(byTimeline);
  }

  async getIdentity(): Promise<Identity | undefined> {
    return this.#identity;
  }

  async putIdentity(identity: Identity): Promise<void> {
    this.#identity = identity;
  }

  async getSetting<T>(key: string): Promise<T | undefined> {
    return this.#settings.get(key) as T | undefined;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    this.#settings.set(key, value);
  }

  close(): void {}
}
