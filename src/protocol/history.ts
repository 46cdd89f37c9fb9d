/**
 * History paging (PROTOCOL.md section "History"). Brokers deliver a limited number of retained
 * messages per subscribe (Mosquitto 2.0 about 1,000), so a room's messages are spread over numbered
 * pages of about PAGE_SIZE messages; a client subscribes page by page and each subscription stays far
 * below any broker's cap.
 */

/** A sender opens a new page once the head page holds this many messages (rule HIST-2). */
export const PAGE_SIZE = 200;
/** Every client shows at least this many of the newest messages of a room on join (rule HIST-6). */
export const HISTORY_WINDOW = 500;
/** At most this many pages are subscribed in one request: 3 × 200 plus overflow stays under 1,000. */
export const PAGES_PER_FETCH = 3;

/** The page a new message goes to, given the head page and how many messages it holds (rule HIST-2). */
export const pageForNewMessage = (head: number, countInHead: number): number =>
  countInHead >= PAGE_SIZE ? head + 1 : head;

/**
 * Which known pages to fetch next, newest first, below `below` (exclusive): enough pages to add
 * `wanted` messages at PAGE_SIZE each, at most PAGES_PER_FETCH.
 */
export const pagesToFetch = (knownPages: Iterable<number>, below: number, wanted: number): number[] => {
  const candidates = [...new Set(knownPages)].filter((page) => page < below).sort((a, b) => b - a);
  const count = Math.min(PAGES_PER_FETCH, Math.max(1, Math.ceil(wanted / PAGE_SIZE)));
  return candidates.slice(0, count);
};

export interface Ordered {
  ts: number;
  id: string;
}

/** Stable total order of a timeline: by timestamp, then id (rule MSG-5). */
export const compareMessages = (a: Ordered, b: Ordered): number =>
  a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Receivers clamp future timestamps to their own clock so a sender cannot pin itself to the end. */
export const clampTimestamp = (ts: number, now: number, skew: number): number => Math.min(ts, now + skew);
