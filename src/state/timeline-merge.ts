import { byTimeline, type StoredMessage } from '../storage/store.ts';

/** Two copies of a message that render the same: nothing to re-render. */
const unchanged = (a: StoredMessage, b: StoredMessage): boolean =>
  a.state === b.state && a.sig === b.sig && a.sortTs === b.sortTs;

/** Merges two arrays already sorted by (sortTs, id) into one; the common cases are appends. */
export const mergeSorted = (a: readonly StoredMessage[], b: readonly StoredMessage[]): StoredMessage[] => {
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
 * Folds a batch of upserts (in any order, possibly repeating ids) into a sorted timeline. `index`
 * maps id → message for `current` and is updated in place. Returns the new array, or undefined when
 * nothing visible changed, so the caller can skip a re-render.
 */
export const mergeBatch = (
  current: readonly StoredMessage[],
  index: Map<string, StoredMessage>,
  batch: readonly StoredMessage[],
): StoredMessage[] | undefined => {
  const fresh = new Map<string, StoredMessage>();
  let replaces = false;
  for (const message of batch) {
    const known = index.get(message.id);
    if (known !== undefined && unchanged(known, message)) continue;
    if (known !== undefined) replaces = true;
    fresh.set(message.id, message);
  }
  if (fresh.size === 0) return undefined;
  for (const message of fresh.values()) index.set(message.id, message);
  const kept = replaces ? current.filter((message) => !fresh.has(message.id)) : current;
  return mergeSorted(kept, [...fresh.values()].sort(byTimeline));
};
