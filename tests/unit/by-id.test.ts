import { describe, expect, it } from 'vitest';
import { findById, mergeById, putById } from '../../src/core/by-id.ts';

/** A small deterministic generator (tests must not depend on Math.random). */
const lcg = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

describe('arrays sorted by id as an index (by-id.ts)', () => {
  it('finds, merges and puts like a Map by id, and stays sorted without repeats', () => {
    const random = lcg(11);
    const id = () =>
      Math.floor(random() * 400)
        .toString(16)
        .padStart(3, '0');
    let sorted: { id: string; v: number }[] = [];
    const model = new Map<string, number>();
    for (let step = 0; step < 400; step++) {
      if (random() < 0.5) {
        const entry = { id: id(), v: step };
        putById(sorted, entry);
        model.set(entry.id, step);
      } else {
        // A batch in any order, ids repeating: the later of two wins.
        const batch = Array.from({ length: Math.floor(random() * 30) }, (_, i) => ({
          id: id(),
          v: step * 100 + i,
        }));
        sorted = mergeById(sorted, batch);
        for (const entry of batch) model.set(entry.id, entry.v);
      }
      expect(sorted.map((entry) => entry.id)).toEqual([...model.keys()].sort());
      for (let probe = 0; probe < 20; probe++) {
        const wanted = id();
        expect(findById(sorted, wanted)?.v).toBe(model.get(wanted));
      }
    }
  });
});
