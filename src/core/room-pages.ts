import { pageForNewMessage } from '../protocol/history.ts';

/**
 * What a client knows of one room's pages (PROTOCOL.md section "History"): which pages exist, how
 * many messages each holds, the head. Pure bookkeeping; the chat client decides what to subscribe.
 */
export class RoomPages {
  head = 0;
  readonly known = new Set<number>();
  /**
   * Message ids of the head page and any above it, to count them once (rule HIST-2). Only the head's
   * count is ever asked for and the head only moves up, so pages below it are dropped: a room of
   * 10,000 loaded messages holds a page's worth of ids here, not 10,000.
   */
  readonly #ids = new Map<number, Set<string>>();
  /** Pages whose retained messages were requested (subscribed). */
  readonly fetched = new Set<number>();

  /** Records a page number seen in a marker or a message; returns true when the head moved up. */
  see(page: number): boolean {
    this.known.add(page);
    if (page <= this.head) return false;
    this.head = page;
    for (const below of this.#ids.keys()) if (below < page) this.#ids.delete(below);
    return true;
  }

  /** Counts a message in its page; returns true when the head moved up. */
  add(page: number, id: string): boolean {
    if (page < this.head) return this.see(page);
    let ids = this.#ids.get(page);
    if (ids === undefined) this.#ids.set(page, (ids = new Set()));
    ids.add(id);
    return this.see(page);
  }

  /** Messages counted in the page: right for the head and above, 0 below it (not kept). */
  count(page: number): number {
    return this.#ids.get(page)?.size ?? 0;
  }

  /** Where this client's next message goes (rule HIST-2). */
  nextPage(): number {
    return pageForNewMessage(this.head, this.count(this.head));
  }

  /**
   * Pages to hold subscribed so the newest HISTORY_WINDOW messages are complete and new messages
   * arrive live: the page after the head (live), the head, and three full pages below it.
   */
  windowPages(): number[] {
    const pages: number[] = [];
    for (let page = this.head + 1; page >= Math.max(0, this.head - 3); page--) pages.push(page);
    return pages;
  }

  /**
   * The next `count` pages to fetch when scrolling up: the newest pages below the head not fetched
   * yet. Pages are numbered without gaps in normal use; markers let a client skip gaps a forger made.
   */
  olderPages(count: number): number[] {
    const out: number[] = [];
    const floor = Math.max(0, this.head - 10_000);
    for (let page = this.head; page >= floor && out.length < count; page--) {
      if (!this.fetched.has(page) && (this.known.has(page) || this.known.size === 0 || page < this.head))
        out.push(page);
    }
    return out;
  }
}
