import type { Identity } from '../protocol/keys.ts';

/**
 * The store contract: idb-store.ts (IndexedDB, the only file that imports idb) and memory-store.ts.
 * Messages are keyed by id, so a message received twice is stored once.
 */
export type DeliveryState = 'sent' | 'pending' | 'failed';

export interface StoredMessage {
  room: string;
  page: number;
  id: string;
  from: string;
  name: string;
  /** The sender's timestamp, as signed. */
  ts: number;
  /** The timestamp the timeline orders by: `ts` clamped to the receiver's clock (rule MSG-5). */
  sortTs: number;
  text: string;
  reply?: string;
  /** Time of the latest edit (rule EDIT-1). */
  edited?: number;
  /** The sender's sequence number in the room (rule SYNC-1). */
  seq?: number;
  /** A tombstone: the author deleted it; `text` is empty (rule EDIT-2). */
  deleted?: boolean;
  /** From the classic bridge: unsigned, sender taken from the topic, `from` is `classic:<name>`. */
  classic?: boolean;
  sig: string;
  /** 'pending' messages are in the outbox until the broker acknowledges them (rule OUT-1). */
  state: DeliveryState;
}

export interface Cursor {
  sortTs: number;
  id: string;
}

export interface Store {
  putMessages(messages: StoredMessage[]): Promise<void>;
  getMessage(id: string): Promise<StoredMessage | undefined>;
  /** Several messages by id in one read (one transaction), in the order of `ids`. */
  getMessagesById(ids: readonly string[]): Promise<(StoredMessage | undefined)[]>;
  /** The newest `limit` messages of `room` ordered before `before` (exclusive), oldest first. */
  getMessages(room: string, options: { limit: number; before?: Cursor }): Promise<StoredMessage[]>;
  /** Messages in the outbox, oldest first. */
  getPending(): Promise<StoredMessage[]>;
  getIdentity(): Promise<Identity | undefined>;
  putIdentity(identity: Identity): Promise<void>;
  getSetting<T>(key: string): Promise<T | undefined>;
  putSetting(key: string, value: unknown): Promise<void>;
  close(): void;
}

export const byTimeline = (a: Cursor, b: Cursor): number =>
  a.sortTs - b.sortTs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
