import { sameDay } from '../lib/time.ts';
import type { StoredMessage } from '../storage/store.ts';

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
const reuse = (previous: ReadonlyMap<string, TimelineItem> | undefined, item: TimelineItem): TimelineItem => {
  const old = previous?.get(item.key);
  if (old === undefined) return item;
  if (old.kind === 'message' && item.kind === 'message' && old.message === item.message) return old;
  if (old.kind === 'notice' && item.kind === 'notice' && old.notice === item.notice) return old;
  if (old.kind === 'day' && item.kind === 'day' && old.ts === item.ts) return old;
  item.height ??= old.height;
  return item;
};

/** Items by key, to pass back to `timelineView` as `previous` on the next render. */
export const itemsByKey = (view: TimelineView): Map<string, TimelineItem> =>
  new Map(view.items.map((item) => [item.key, item]));

/**
 * What the message list renders: the newest `limit` shown messages, the notices from that window on,
 * merged by time, with a day divider wherever the day changes. Rendering stays bounded however long
 * the timeline grows; the list raises `limit` as the reader scrolls up. Items that did not change
 * since `previous` are the very same objects, so a new message re-renders one row, not all of them.
 */
export const timelineView = (
  messages: readonly StoredMessage[],
  notices: readonly Notice[],
  limit: number,
  show: (message: StoredMessage) => boolean = () => true,
  previous?: ReadonlyMap<string, TimelineItem>,
): TimelineView => {
  const shown = messages.filter(show);
  const window = shown.slice(-limit);
  const hidden = shown.length - window.length;
  const from = hidden > 0 ? (window[0]?.sortTs ?? -Infinity) : -Infinity;
  const lines = notices.filter((notice) => notice.ts >= from);
  const items: TimelineItem[] = [];
  let day: number | undefined;
  const divide = (ts: number) => {
    if (day === undefined || !sameDay(day, ts))
      items.push(reuse(previous, { kind: 'day', key: `day-${ts}`, height: undefined, ts }));
    day = ts;
  };
  let n = 0;
  for (const message of window) {
    for (let notice = lines[n]; notice !== undefined && notice.ts < message.sortTs; notice = lines[++n]) {
      divide(notice.ts);
      items.push(reuse(previous, { kind: 'notice', key: notice.id, height: undefined, notice }));
    }
    divide(message.sortTs);
    items.push(reuse(previous, { kind: 'message', key: message.id, height: undefined, message }));
  }
  for (let notice = lines[n]; notice !== undefined; notice = lines[++n]) {
    divide(notice.ts);
    items.push(reuse(previous, { kind: 'notice', key: notice.id, height: undefined, notice }));
  }
  return { items, hidden };
};
