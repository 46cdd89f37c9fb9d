import { byTimeline, type StoredMessage } from '../storage/store.ts';

/** Two copies of a message that render the same: nothing to re-render. */
const unchanged = (a: StoredMessage, b: StoredMessage): boolean =>
  a.state === b.state && a.sig === b.sig && a.sortTs === b.sortTs;

/** Merges two arrays already sorted by (sortTs, id) into one; the common cases are appends. */
const mergeSorted = (a: readonly StoredMessage[], b: readonly StoredMessage[]): StoredMessage[] => {
  const lastA = a.at(-1);
  const firstB = b[0];
  if (lastA === undefined || firstB === undefined || byTimeline(lastA, firstB) <= 0) return [...a, ...b];
  const lastB = b.at(-1);
  const firstA = a[0];
  if (lastB !== undefined && firstA !== undefined && byTimeline(lastB, firstA) <= 0) return [...b, ...a];
  const out: StoredMessage[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as StoredMessage;
    const y = b[j] as StoredMessage;
    if (byTimeline(x, y) <= 0) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  for (; i < a.length; i++) out.push(a[i] as StoredMessage);
  for (; j < b.length; j++) out.push(b[j] as StoredMessage);
  return out;
};

/**
 * One room's messages in timeline order (sortTs, then id: rule MSG-5). The core's `messages` events
 * are upserts in no order; `merge` folds a batch in by id and replaces the array once per batch
 * ($state.raw: the array is swapped, never mutated, so a 5,000-message room is not proxied).
 */
export class Timeline {
  messages = $state.raw<readonly StoredMessage[]>([]);
  readonly #byId = new Map<string, StoredMessage>();

  get size(): number {
    return this.messages.length;
  }

  get(id: string): StoredMessage | undefined {
    return this.#byId.get(id);
  }

  merge(batch: readonly StoredMessage[]): void {
    const fresh = new Map<string, StoredMessage>();
    let replaces = false;
    for (const message of batch) {
      const known = this.#byId.get(message.id);
      if (known !== undefined && unchanged(known, message)) continue;
      if (known !== undefined) replaces = true;
      fresh.set(message.id, message);
    }
    if (fresh.size === 0) return;
    for (const message of fresh.values()) this.#byId.set(message.id, message);
    const kept = replaces ? this.messages.filter((message) => !fresh.has(message.id)) : this.messages;
    this.messages = mergeSorted(kept, [...fresh.values()].sort(byTimeline));
  }

  clear(): void {
    this.#byId.clear();
    this.messages = [];
  }
}
