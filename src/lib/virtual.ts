/**
 * Arithmetic of a virtual list with rows of different heights: rows are measured when rendered and
 * their heights kept on the rows; rows never measured count as the average of those that were. The
 * list renders the rows overlapping [from, to) of the content and stands spacers in for the rest.
 */

/**
 * A row of the list. Its measured height is kept on the row object (undefined until measured), not in
 * a map by key: a hash table of 10,000 rows costs about 230 kB, and the row objects exist anyway. The
 * caller creates rows with `height` set, even to undefined, so recording it later keeps their shape,
 * and hands it on to the row that replaces one (same key) so a row that re-renders the same size,
 * which the ResizeObserver does not report again, keeps its measurement.
 */
export interface Row {
  readonly key: string;
  height: number | undefined;
}

/** Records measured heights on the rows, and the estimate for rows not measured yet. */
export class RowHeights {
  // Sum and count of every height recorded, also of rows since dropped: the estimate stays the mean
  // of the rows measured so far, however the rows change.
  #sum = 0;
  #count = 0;
  readonly #fallback: number;

  /** `fallback`: the estimate before any row was measured. */
  constructor(fallback = 64) {
    this.#fallback = fallback;
  }

  /** Records a height (> 0); true when it differs from what was known. */
  set(row: Row, height: number): boolean {
    const old = row.height;
    if (old === height) return false;
    if (old === undefined) this.#count++;
    this.#sum += height - (old ?? 0);
    row.height = height;
    return true;
  }

  /** The estimate for a row never measured: the mean of the measured ones. */
  get estimate(): number {
    return this.#count === 0 ? this.#fallback : this.#sum / this.#count;
  }

  get(row: Row): number {
    return row.height ?? this.estimate;
  }
}

/**
 * The rows' heights in their order, so that offsets are a pass over an array: reading them off the
 * rows in every frame that measures new rows would be a property load on objects of several shapes
 * for each of 10,000 rows. Built from the rows when they change; `set` records a measured height in
 * both.
 */
export class RowLayout {
  readonly #rows: readonly Row[];
  readonly #heights: RowHeights;
  /** Measured heights by row index; 0 for a row not measured (heights of 0 are never recorded). */
  readonly #sizes: Float64Array;
  readonly #offsets: Float64Array;
  /**
   * Where the last key was found, where `indexOf` starts: keys looked up are those of rendered rows
   * (measured, focused), next to each other. The newest rows until then, where the list opens.
   */
  #near: number;

  constructor(rows: readonly Row[], heights: RowHeights) {
    this.#rows = rows;
    this.#heights = heights;
    this.#sizes = new Float64Array(rows.length);
    this.#offsets = new Float64Array(rows.length + 1);
    this.#near = rows.length - 1;
    for (let i = 0; i < rows.length; i++) this.#sizes[i] = rows[i]!.height ?? 0;
  }

  /**
   * The row's index, -1 for a key not among rows [from, to). No map by key (one more 10,000-entry
   * table): the search goes both ways from where the last key was found, a step or two for the rows
   * the list looks up (rendered ones), the whole array at worst (a jump to a message).
   */
  indexOf(key: string, from = 0, to = this.#rows.length): number {
    const rows = this.#rows;
    from = Math.max(0, from);
    to = Math.min(rows.length, to);
    if (from >= to) return -1;
    const near = Math.min(Math.max(this.#near, from), to - 1);
    for (let up = near, down = near + 1; up >= from || down < to; up--, down++) {
      if (up >= from && rows[up]!.key === key) return (this.#near = up);
      if (down < to && rows[down]!.key === key) return (this.#near = down);
    }
    return -1;
  }

  /** Records a row's measured height (`height` > 0); true when it differs from what was known. */
  set(key: string, height: number): boolean {
    const i = this.indexOf(key);
    if (i === -1) return false;
    this.#sizes[i] = height;
    return this.#heights.set(this.#rows[i]!, height);
  }

  /** The row's height, measured or estimated. */
  height(i: number): number {
    return this.#sizes[i] || this.#heights.estimate;
  }

  /**
   * offsets[i] is the top of row i, offsets[rows] the height of all rows. Each call refills the same
   * buffer (a new view of it, so reactive code sees a new value): a new 80 kB array in every frame
   * that measures rows would bring the garbage collector round more often while scrolling.
   */
  offsets(): Float64Array {
    const sizes = this.#sizes;
    const offsets = this.#offsets;
    const estimate = this.#heights.estimate;
    let y = 0;
    for (let i = 0; i < sizes.length; i++) {
      offsets[i] = y;
      y += sizes[i] || estimate;
    }
    offsets[sizes.length] = y;
    return offsets.subarray(0);
  }
}

/** offsets[i] is the top of row i, offsets[rows.length] the height of all rows. */
export const rowOffsets = (rows: readonly Row[], heights: RowHeights): Float64Array =>
  new RowLayout(rows, heights).offsets();

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
