import type { Identity } from '../protocol/keys.ts';
import type { Cursor, Store, StoredMessage } from '../storage/store.ts';

/** Distinct strings shared at most: past this, new ones are kept as they come. */
const SHARED_MAX = 20_000;

/**
 * One copy of the strings messages repeat: a room's name, an author's id (43 characters) and name, the
 * delivery state. JSON.parse and IndexedDB make a fresh copy for every message, so 10,000 messages of a
 * few authors otherwise hold 40,000 strings where a few dozen would do.
 */
class SharedStrings {
  readonly #strings = new Map<string, string>();

  get(value: string): string {
    const shared = this.#strings.get(value);
    if (shared !== undefined) return shared;
    if (this.#strings.size < SHARED_MAX) this.#strings.set(value, value);
    return value;
  }

  /** The message with its repeated fields pointing at the shared copies (in place: same values). */
  share(message: StoredMessage): StoredMessage {
    message.room = this.get(message.room);
    message.from = this.get(message.from);
    message.name = this.get(message.name);
    message.state = this.get(message.state) as StoredMessage['state'];
    return message;
  }

  clear(): void {
    this.#strings.clear();
  }
}

/**
 * The store, remembering the latest version of every message this session wrote or read. Lookups of
 * known ids (our own echoes, edits, re-delivered history already loaded) are answered from memory,
 * without a round trip to IndexedDB; everything else goes to the store as before. The timeline holds
 * these same objects, so the memory it costs is one map entry per message.
 */
export class MessageCache implements Store {
  readonly #store: Store;
  readonly #latest = new Map<string, StoredMessage>();
  readonly #strings = new SharedStrings();

  constructor(store: Store) {
    this.#store = store;
  }

  /** The latest version known in memory, without asking the store. */
  known(id: string): StoredMessage | undefined {
    return this.#latest.get(id);
  }

  #note(messages: readonly StoredMessage[]): void {
    for (const message of messages) this.#latest.set(message.id, this.#strings.share(message));
  }

  /** Forgets a room's messages, e.g. when leaving it; the store keeps them. */
  forget(room: string): void {
    for (const [id, message] of this.#latest) if (message.room === room) this.#latest.delete(id);
  }

  putMessages(messages: StoredMessage[]): Promise<void> {
    this.#note(messages);
    return this.#store.putMessages(messages);
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    const known = this.#latest.get(id);
    if (known !== undefined) return known;
    const stored = await this.#store.getMessage(id);
    // A write noted while the read was running is newer than what the read found.
    if (stored !== undefined && !this.#latest.has(id)) this.#note([stored]);
    return this.#latest.get(id) ?? stored;
  }

  async getMessagesById(ids: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    const unknown = ids.filter((id) => !this.#latest.has(id));
    if (unknown.length > 0) {
      const found = await this.#store.getMessagesById(unknown);
      // A write noted while the read was running is newer than what the read found.
      unknown.forEach((id, i) => {
        const stored = found[i];
        if (stored !== undefined && !this.#latest.has(id)) this.#note([stored]);
      });
    }
    return ids.map((id) => this.#latest.get(id));
  }

  async getMessages(room: string, options: { limit: number; before?: Cursor }): Promise<StoredMessage[]> {
    const messages = await this.#store.getMessages(room, options);
    // What memory holds is at least as new as what the store returned.
    return messages.map((message) => {
      const known = this.#latest.get(message.id);
      if (known !== undefined) return known;
      this.#note([message]);
      return message;
    });
  }

  getPending(): Promise<StoredMessage[]> {
    return this.#store.getPending();
  }

  getIdentity(): Promise<Identity | undefined> {
    return this.#store.getIdentity();
  }

  putIdentity(identity: Identity): Promise<void> {
    return this.#store.putIdentity(identity);
  }

  getSetting<T>(key: string): Promise<T | undefined> {
    return this.#store.getSetting<T>(key);
  }

  putSetting(key: string, value: unknown): Promise<void> {
    return this.#store.putSetting(key, value);
  }

  close(): void {
    this.#store.close();
  }
}
