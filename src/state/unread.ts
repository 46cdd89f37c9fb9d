import type { StoredMessage } from '../storage/store.ts';

/**
 * The messages of a batch that count as unread: new to the timeline (not an edit, echo or state
 * change), from someone else, not muted or deleted, and newer than what was last read, so history
 * delivered on join does not light up a room.
 */
export const unreadIn = (
  batch: readonly StoredMessage[],
  isKnown: (id: string) => boolean,
  me: string,
  lastRead: number,
  muted: ReadonlySet<string>,
): StoredMessage[] => {
  const seen = new Set<string>();
  return batch.filter((message) => {
    if (seen.has(message.id) || isKnown(message.id)) return false;
    seen.add(message.id);
    return message.from !== me && !message.deleted && !muted.has(message.from) && message.sortTs > lastRead;
  });
};

/** The newest position of a timeline, as a read mark. */
export const newestTs = (messages: readonly StoredMessage[], fallback: number): number =>
  Math.max(fallback, messages.at(-1)?.sortTs ?? -Infinity);

/** An immutable set, for state that is replaced whole (`$state.raw`) rather than mutated. */
export const setOf = (items: Iterable<string>): ReadonlySet<string> => new Set(items);
