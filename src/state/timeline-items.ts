import { sameDay } from '../lib/time.ts';
import { byTimeline, type StoredMessage } from '../storage/store.ts';

/** A join or leave line in a room's timeline: local only, never sent or stored. */
export interface Notice {
  id: string;
  kind: 'join' | 'leave';
  user: string;
  name: string;
  ts: number;
}

/**
 * A row of the rendered timeline. `height` is the row's measured height, written by the message list
 * (`RowHeights`): kept on the item rather than in a map by key, which costs about 35 bytes a row with
 * 10,000 loaded; undefined until the row is measured. Every item is created with it, in the same
 * place in each shape, so measuring a row does not change its object's shape.
 */
export type TimelineItem =
  | { kind: 'day'; key: string; height: number | undefined; ts: number }
  | { kind: 'message'; key: string; height: number | undefined; message: StoredMessage }
  | { kind: 'notice'; key: string; height: number | undefined; notice: Notice };

export interface TimelineView {
  items: TimelineItem[];
  /** Messages left out above (older than the rendered window). */
  hidden: number;
}

/**
 * The same item as last time when it would render the same, so a keyed list leaves its row alone;
 * otherwise the new item, with the old one's measured height when it had one (same key, same row).
 */
const reuse = (old: TimelineItem | undefined, item: TimelineItem): TimelineItem => {
  if (old === undefined) return item;
  if (old.kind === 'message' && item.kind === 'message' && old.message === item.message) return old;
  if (old.kind === 'notice' && item.kind === 'notice' && old.notice === item.notice) return old;
  if (old.kind === 'day' && item.kind === 'day' && old.ts === item.ts) return old;
  item.height ??= old.height;
  return item;
};

/**
 * What the message list renders: the newest `limit` shown messages, the notices from that window on,
 * merged by time, with a day divider wherever the day changes. Rendering stays bounded however long
 * the timeline grows; the list raises `limit` as the reader scrolls up. Items that did not change
 * since `previous` (last call's items) are the very same objects, so a new message re-renders one row,
 * not all of them.
 *
 * Found without a map by key over all items (a 10,000-entry table kept for every render): the
 * messages and the previous items are both in timeline order (MSG-5), so one pointer walks the
 * previous items alongside the messages and meets a message's old item where it was. What the walk
 * does not pair (day dividers, notices, a message whose place changed) is looked up afterwards in a
 * map of the previous items it passed over, which holds the few dividers and notices unless messages
 * left the view (removed, or their author muted).
 */
export const timelineView = (
  messages: readonly StoredMessage[],
  notices: readonly Notice[],
  limit: number,
  show: (message: StoredMessage) => boolean = () => true,
  previous: readonly TimelineItem[] = [],
): TimelineView => {
  const shown = messages.filter(show);
  const window = shown.slice(-limit);
  const hidden = shown.length - window.length;
  const from = hidden > 0 ? (window[0]?.sortTs ?? -Infinity) : -Infinity;
  const lines = notices.filter((notice) => notice.ts >= from);
  const items: TimelineItem[] = [];
  // Where in `items` the items the walk did not pair are, and the previous items it passed over.
  const unpaired: number[] = [];
  const passed: TimelineItem[] = [];
  let p = 0;
  const messageItem = (message: StoredMessage): TimelineItem => {
    for (let old = previous[p]; old !== undefined; old = previous[++p]) {
      if (old.kind === 'message') {
        const order = byTimeline(old.message, message);
        if (order > 0) break;
        if (order === 0) {
          p++;
          return old.message === message
            ? old
            : { kind: 'message', key: message.id, height: old.height, message };
        }
      }
      passed.push(old);
    }
    // Not met (new, or moved): paired by key below. Its place is the next in `items`.
    unpaired.push(items.length);
    return { kind: 'message', key: message.id, height: undefined, message };
  };
  const add = (item: TimelineItem) => {
    unpaired.push(items.length);
    items.push(item);
  };
  let day: number | undefined;
  const divide = (ts: number) => {
    if (day === undefined || !sameDay(day, ts)) add({ kind: 'day', key: `day-${ts}`, height: undefined, ts });
    day = ts;
  };
  let n = 0;
  for (const message of window) {
    for (let notice = lines[n]; notice !== undefined && notice.ts < message.sortTs; notice = lines[++n]) {
      divide(notice.ts);
      add({ kind: 'notice', key: notice.id, height: undefined, notice });
    }
    divide(message.sortTs);
    items.push(messageItem(message));
  }
  for (let notice = lines[n]; notice !== undefined; notice = lines[++n]) {
    divide(notice.ts);
    add({ kind: 'notice', key: notice.id, height: undefined, notice });
  }
  if (unpaired.length > 0) {
    for (let old = previous[p]; old !== undefined; old = previous[++p]) passed.push(old);
    const byKey = new Map(passed.map((item) => [item.key, item]));
    for (const i of unpaired) items[i] = reuse(byKey.get(items[i]!.key), items[i]!);
  }
  return { items, hidden };
};
