import { pageForNewMessage } from '../protocol/history.ts';

/**
 * What a client knows of one room's pages (PROTOCOL.md section "History"): which pages exist, how
 * many messages each holds, the head. Pure bookkeeping; the chat client decides what to subscribe.
 */
export class RoomPages {
  head = 0;
  readonly known = new Set<number>();
  readonly #ids = new Map<number, Set<string>>();
  /** Pages whose retained messages were requested (subscribed). */
  readonly fetched = new Set<number>();

  /** Records a page number seen in a marker or a message; returns true when the head moved up. */
  see(page: number): boolean {
    this.known.add(page);
    if (page <= this.head) return false;
    this.head = page;
    return true;
  }

  add(page: number, id: string): boolean {
    let ids = this.#ids.get(page);
    if (ids === undefined) this.#ids.set(page, (ids = new Set()));
    ids.add(id);
    return this.see(page);
  }

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

  /** The next `count` older pages below the lowest fetched one, preferring pages known to exist. */
  olderPages(count: number): number[] {
    const lowest = Math.min(...this.fetched, this.head + 1);
    const below = [...this.known].filter((page) => page < lowest).sort((a, b) => b - a);
    // Pages are numbered without gaps in normal use; markers only help skip gaps a forger made.
    for (let page = lowest - 1; page >= 0 && below.length < count; page--)
      if (!below.includes(page)) below.push(page);
    return below.sort((a, b) => b - a).slice(0, count);
  }
}
