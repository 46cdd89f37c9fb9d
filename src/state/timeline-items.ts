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

export type TimelineItem =
  | { kind: 'day'; key: string; ts: number }
  | { kind: 'message'; key: string; message: StoredMessage }
  | { kind: 'notice'; key: string; notice: Notice };

export interface TimelineView {
  items: TimelineItem[];
  /** Messages left out above (older than the rendered window). */
  hidden: number;
}

/**
 * What the message list renders: the newest `limit` shown messages, the notices from that window on,
 * merged by time, with a day divider wherever the day changes. Rendering stays bounded however long
 * the timeline grows; the list raises `limit` as the reader scrolls up.
 */
export const timelineView = (
  messages: readonly StoredMessage[],
  notices: readonly Notice[],
  limit: number,
  show: (message: StoredMessage) => boolean = () => true,
): TimelineView => {
  const shown = messages.filter(show);
  const window = shown.slice(-limit);
  const hidden = shown.length - window.length;
  const from = hidden > 0 ? (window[0]?.sortTs ?? -Infinity) : -Infinity;
  const lines = notices.filter((notice) => notice.ts >= from);
  const items: TimelineItem[] = [];
  let day: number | undefined;
  const divide = (ts: number) => {
    if (day === undefined || !sameDay(day, ts)) items.push({ kind: 'day', key: `day-${ts}`, ts });
    day = ts;
  };
  let n = 0;
  for (const message of window) {
    for (let notice = lines[n]; notice !== undefined && notice.ts < message.sortTs; notice = lines[++n]) {
      divide(notice.ts);
      items.push({ kind: 'notice', key: notice.id, notice });
    }
    divide(message.sortTs);
    items.push({ kind: 'message', key: message.id, message });
  }
  for (let notice = lines[n]; notice !== undefined; notice = lines[++n]) {
    divide(notice.ts);
    items.push({ kind: 'notice', key: notice.id, notice });
  }
  return { items, hidden };
};
