/**
 * Arithmetic of a virtual list with rows of different heights: rows are measured when rendered and
 * their heights kept by key; rows never measured count as the average of those that were. The list
 * renders the rows overlapping [from, to) of the content and stands spacers in for the rest.
 */

/** Measured row heights by key, and the estimate for rows not measured yet. */
export class RowHeights {
  readonly #sizes = new Map<string, number>();
  #sum = 0;
  readonly #fallback: number;

  /** `fallback`: the estimate before any row was measured. */
  constructor(fallback = 64) {
    this.#fallback = fallback;
  }

  /** Records a height; true when it differs from what was known. */
  set(key: string, height: number): boolean {
    const old = this.#sizes.get(key);
    if (old === height) return false;
    this.#sum += height - (old ?? 0);
    this.#sizes.set(key, height);
    return true;
  }

  has(key: string): boolean {
    return this.#sizes.has(key);
  }

  /** The estimate for a row never measured: the mean of the measured ones. */
  get estimate(): number {
    return this.#sizes.size === 0 ? this.#fallback : this.#sum / this.#sizes.size;
  }

  get(key: string): number {
    return this.#sizes.get(key) ?? this.estimate;
  }
}

/** offsets[i] is the top of row i, offsets[rows.length] the height of all rows. */
export const rowOffsets = (rows: readonly { key: string }[], heights: RowHeights): Float64Array => {
  const offsets = new Float64Array(rows.length + 1);
  const estimate = heights.estimate;
  let y = 0;
  for (let i = 0; i < rows.length; i++) {
    offsets[i] = y;
    const key = rows[i]!.key;
    y += heights.has(key) ? heights.get(key) : estimate;
  }
  offsets[rows.length] = y;
  return offsets;
};

/** The row at content position `y`: the last i with offsets[i] <= y (0 for y above the first row). */
export const rowAt = (offsets: Float64Array, y: number): number => {
  const rows = offsets.length - 1;
  if (rows <= 0) return 0;
  let lo = 0;
  let hi = rows - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid]! <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};

/** Rows [start, end) that overlap the content span [from, to). */
export const rowsBetween = (offsets: Float64Array, from: number, to: number): [number, number] => {
  const rows = offsets.length - 1;
  if (rows <= 0) return [0, 0];
  const start = rowAt(offsets, Math.max(0, from));
  const end = Math.min(rows, rowAt(offsets, Math.max(from, to)) + 1);
  return [start, Math.max(start, end)];
};
