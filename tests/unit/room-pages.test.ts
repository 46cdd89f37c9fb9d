import { describe, expect, it } from 'vitest';
import { RoomPages } from '../../src/core/room-pages.ts';

describe('RoomPages (HIST-6, HIST-7)', () => {
  it('holds the head + 1, the head and three pages below subscribed', () => {
    const pages = new RoomPages();
    pages.see(12);
    expect(pages.windowPages()).toEqual([13, 12, 11, 10, 9]);
  });

  it('scrolls up into the newest pages not fetched yet, even when older ones were fetched first', () => {
    const pages = new RoomPages();
    // A join that guessed head 0 before the head marker arrived fetched pages 0 and 1.
    for (const page of [1, 0, 13, 12, 11, 10, 9]) pages.fetched.add(page);
    pages.see(12);
    expect(pages.olderPages(2)).toEqual([8, 7]);
    for (const page of [8, 7, 6, 5, 4, 3, 2]) pages.fetched.add(page);
    expect(pages.olderPages(2)).toEqual([]);
  });

  it('counts the head page once per id, and keeps no ids below the head (HIST-2)', () => {
    const pages = new RoomPages();
    for (let page = 0; page < 50; page++) for (let i = 0; i < 200; i++) pages.add(page, `${page}-${i}`);
    pages.add(49, '49-0');
    expect(pages.head).toBe(49);
    expect(pages.count(49)).toBe(200);
    expect(pages.nextPage()).toBe(50);
    // Older history paged in afterwards is seen, not counted; a page above the head moves it.
    pages.add(3, 'late');
    expect(pages.count(3)).toBe(0);
    expect(pages.known.has(3)).toBe(true);
    pages.add(50, 'new');
    expect([pages.head, pages.count(50), pages.count(49)]).toEqual([50, 1, 0]);
  });
});
