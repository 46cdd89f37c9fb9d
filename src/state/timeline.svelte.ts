import type { StoredMessage } from '../storage/store.ts';
import { mergeBatch } from './timeline-merge.ts';

/**
 * One room's messages in timeline order (sortTs, then id: rule MSG-5). The core's `messages` events
 * are upserts in no order; `merge` folds a batch in by id and replaces the array once per batch
 * ($state.raw: the array is swapped, never mutated, so a 5,000-message room is not proxied).
 */
export class Timeline {
  messages = $state.raw<readonly StoredMessage[]>([]);
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- an index beside the array; replacing the array is what re-renders
  readonly #byId = new Map<string, StoredMessage>();

  get size(): number {
    return this.messages.length;
  }

  get(id: string): StoredMessage | undefined {
    return this.#byId.get(id);
  }

  merge(batch: readonly StoredMessage[]): void {
    const next = mergeBatch(this.messages, this.#byId, batch);
    if (next !== undefined) this.messages = next;
  }

  clear(): void {
    this.#byId.clear();
    this.messages = [];
  }
}
