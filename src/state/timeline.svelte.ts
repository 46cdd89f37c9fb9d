import type { StoredMessage } from '../storage/store.ts';
import { findById, type ById } from '../core/by-id.ts';
import { mergeBatch } from './timeline-merge.ts';

/**
 * One room's messages in timeline order (sortTs, then id: rule MSG-5). The core's `messages` events
 * are upserts in no order; `merge` folds a batch in by id and replaces the array once per batch
 * ($state.raw: the array is swapped, never mutated, so a 5,000-message room is not proxied).
 */
export class Timeline {
  messages = $state.raw<readonly StoredMessage[]>([]);
  /** The same messages sorted by id, to find one by id (binary search) without a map of them all. */
  #byId: ById<StoredMessage> = [];

  get size(): number {
    return this.messages.length;
  }

  get(id: string): StoredMessage | undefined {
    return findById(this.#byId, id);
  }

  merge(batch: readonly StoredMessage[]): void {
    const next = mergeBatch(this.messages, this.#byId, batch);
    if (next === undefined) return;
    this.#byId = next.byId;
    this.messages = next.messages;
  }

  clear(): void {
    this.#byId = [];
    this.messages = [];
  }
}
