import { describe, expect, it } from 'vitest';
import { RowHeights, RowLayout, rowAt, rowOffsets, rowsBetween, type Row } from '../../src/lib/virtual.ts';

const row = (key: string): Row => ({ key, height: undefined });
const rows = (n: number) => Array.from({ length: n }, (_, i) => row(`r${i}`));

describe('virtual list arithmetic', () => {
  it('estimates rows never measured as the mean of the measured ones', () => {
    const heights = new RowHeights(50);
    const [a, b, c] = [row('a'), row('b'), row('c')];
    expect(heights.get(a)).toBe(50);
    expect(heights.set(a, 100)).toBe(true);
    expect(heights.set(b, 60)).toBe(true);
    expect(heights.set(b, 60)).toBe(false);
    expect(heights.get(c)).toBe(80);
    expect(b.height).toBe(60);
    heights.set(a, 40);
    expect(heights.estimate).toBe(50);
    // A row that takes a measured one's place with its height is not counted twice.
    heights.set({ ...a }, 20);
    expect(heights.estimate).toBe(40);
  });

  it('places each row below the ones before it, measured or estimated', () => {
    const heights = new RowHeights(10);
    const list = rows(4);
    heights.set(list[1]!, 30);
    expect([...rowOffsets(list, heights)]).toEqual([0, 30, 60, 90, 120]);
    expect([...rowOffsets([], heights)]).toEqual([0]);
  });

  it('keeps offsets in row order as rows are measured, and heights on rows for layouts built later', () => {
    const heights = new RowHeights(10);
    const list = rows(3);
    const layout = new RowLayout(list, heights);
    expect([...layout.offsets()]).toEqual([0, 10, 20, 30]);
    expect([layout.indexOf('r2'), layout.indexOf('r7')]).toEqual([2, -1]);
    expect(layout.set('r1', 30)).toBe(true);
    expect(layout.set('r1', 30)).toBe(false);
    expect(layout.set('r7', 50)).toBe(false);
    // Unmeasured rows count as the mean of the measured ones (30 now).
    expect([...layout.offsets()]).toEqual([0, 30, 60, 90]);
    expect([layout.height(0), layout.height(1)]).toEqual([30, 30]);
    layout.set('r2', 50);
    expect([...layout.offsets()]).toEqual([0, 40, 70, 120]);
    // Rows changed (one added above): a new layout from the heights kept on the rows.
    expect([...new RowLayout([row('r9'), ...list], heights).offsets()]).toEqual([0, 40, 80, 110, 160]);
  });

  it('finds a key near the last one found, and within bounds only when given them', () => {
    const layout = new RowLayout(rows(1000), new RowHeights(10));
    expect(layout.indexOf('r999')).toBe(999);
    expect(layout.indexOf('r0')).toBe(0);
    expect(layout.indexOf('r500')).toBe(500);
    expect([layout.indexOf('r501'), layout.indexOf('r499')]).toEqual([501, 499]);
    expect(layout.indexOf('r10', 400, 600)).toBe(-1);
    expect(layout.indexOf('r450', 400, 600)).toBe(450);
    expect(layout.indexOf('r450', -60, 1060)).toBe(450);
    expect(layout.indexOf('r450', 700, 600)).toBe(-1);
    expect(new RowLayout([], new RowHeights()).indexOf('r0')).toBe(-1);
  });

  it('finds the row at a position and the rows overlapping a span', () => {
    const heights = new RowHeights(10);
    const offsets = rowOffsets(rows(100), heights);
    expect(rowAt(offsets, 0)).toBe(0);
    expect(rowAt(offsets, 9.9)).toBe(0);
    expect(rowAt(offsets, 10)).toBe(1);
    expect(rowAt(offsets, -5)).toBe(0);
    expect(rowAt(offsets, 5000)).toBe(99);
    expect(rowsBetween(offsets, 25, 55)).toEqual([2, 6]);
    expect(rowsBetween(offsets, -100, 15)).toEqual([0, 2]);
    expect(rowsBetween(offsets, 990, 2000)).toEqual([99, 100]);
    expect(rowsBetween(rowOffsets([], heights), 0, 100)).toEqual([0, 0]);
  });
});
