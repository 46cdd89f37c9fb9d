import type { Identity } from '../protocol/keys.ts';
import type { Cursor, Store, StoredMessage } from '../storage/store.ts';
import { findById, mergeById, putById } from './by-id.ts';

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
 * these same objects, so the memory it costs is one array slot per message (sorted by id, see by-id.ts).
 */
export class MessageCache implements Store {
  readonly #store: Store;
  #latest: StoredMessage[] = [];
  readonly #strings = new SharedStrings();

  constructor(store: Store) {
    this.#store = store;
  }

  /** The latest version known in memory, without asking the store. */
  known(id: string): StoredMessage | undefined {
    return findById(this.#latest, id);
  }

  #note(messages: readonly StoredMessage[]): void {
    for (const message of messages) this.#strings.share(message);
    // One message (a send, a live one) goes in place; a batch is merged in one pass.
    if (messages.length === 1) putById(this.#latest, messages[0]!);
    else if (messages.length > 1) this.#latest = mergeById(this.#latest, messages);
  }

  /** Forgets a room's messages, e.g. when leaving it; the store keeps them. */
  forget(room: string): void {
    this.#latest = this.#latest.filter((message) => message.room !== room);
  }

  putMessages(messages: StoredMessage[]): Promise<void> {
    this.#note(messages);
    return this.#store.putMessages(messages);
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    const known = this.known(id);
    if (known !== undefined) return known;
    const stored = await this.#store.getMessage(id);
    // A write noted while the read was running is newer than what the read found.
    if (stored !== undefined && this.known(id) === undefined) this.#note([stored]);
    return this.known(id) ?? stored;
  }

  async getMessagesById(ids: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    const unknown = ids.filter((id) => this.known(id) === undefined);
    if (unknown.length > 0) {
      const found = await this.#store.getMessagesById(unknown);
      // A write noted while the read was running is newer than what the read found.
      this.#note(
        found.filter(
          (stored): stored is StoredMessage => stored !== undefined && this.known(stored.id) === undefined,
        ),
      );
    }
    return ids.map((id) => this.known(id));
  }

  async getMessages(room: string, options: { limit: number; before?: Cursor }): Promise<StoredMessage[]> {
    const messages = await this.#store.getMessages(room, options);
    // What memory holds is at least as new as what the store returned.
    const read = messages.map((message) => this.known(message.id) ?? message);
    this.#note(read.filter((message, i) => message === messages[i]));
    return read;
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
