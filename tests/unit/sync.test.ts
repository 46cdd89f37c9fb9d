import { describe, expect, it } from 'vitest';
import { SeqTracker, SYNC_HORIZON, SYNC_MAX_WANT } from '../../src/core/sync.ts';

/** The rule as written (SYNC-1, SYNC-2): every seq seen kept, gaps counted down from the newest. */
class Naive {
  readonly seen = new Map<string, { first: number; max: number; all: Set<number> }>();

  see(user: string, seq: number): void {
    const known = this.seen.get(user) ?? { first: seq, max: seq, all: new Set<number>() };
    known.all.add(seq);
    known.first = Math.min(known.first, seq);
    known.max = Math.max(known.max, seq);
    this.seen.set(user, known);
  }

  gaps(limit = SYNC_MAX_WANT): [string, number][] {
    const out: [string, number][] = [];
    for (const [user, { first, max, all }] of this.seen)
      for (let seq = max - 1; seq > Math.max(first, max - SYNC_HORIZON) && out.length < limit; seq--)
        if (!all.has(seq)) out.push([user, seq]);
    return out;
  }
}

/** A small deterministic generator (tests must not depend on Math.random). */
const lcg = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

describe('SeqTracker (SYNC-1, SYNC-2)', () => {
  it('finds the same gaps as keeping every seq, in any arrival order, with jumps and history', () => {
    const random = lcg(7);
    for (let round = 0; round < 5; round++) {
      const tracker = new SeqTracker();
      const naive = new Naive();
      let prunes = 0;
      const users = ['alice', 'bob', 'carol'];
      for (let i = 0; i < 4000; i++) {
        const before = tracker.kept('alice');
        // Alice sends most: enough for her set to fill and be pruned several times.
        const user = random() < 0.8 ? 'alice' : users[1 + Math.floor(random() * 2)]!;
        const top = naive.seen.get(user)?.max ?? 1;
        // Mostly the next few seqs, some losses, some older history paged in, now and then a jump.
        const r = random();
        const seq =
          r < 0.75
            ? top + 1 + Math.floor(random() * 3)
            : r < 0.97
              ? Math.max(1, top - Math.floor(random() * 2000))
              : top + Math.floor(random() * 700);
        naive.see(user, seq);
        tracker.see(user, seq);
        if (tracker.kept('alice') < before) prunes += 1;
        // Compared as text after every step: a deep equality of 1,000 pairs per step is slow.
        const [got, want] = [tracker.gaps(1000), naive.gaps(1000)].map((gaps) => JSON.stringify(gaps));
        if (got !== want) expect.fail(`step ${i}: ${user} seq ${seq}, the gaps differ from the rule's`);
      }
      expect(tracker.gaps()).toEqual(naive.gaps());
      expect(prunes).toBeGreaterThan(0);
      for (const user of users) expect(tracker.max(user)).toBe(naive.seen.get(user)?.max);
    }
  });

  it('keeps at most 2 × SYNC_HORIZON seqs of a sender, however many arrive', () => {
    const tracker = new SeqTracker();
    for (let seq = 10_000; seq >= 1; seq--) tracker.see('reader', seq);
    for (let seq = 10_001; seq <= 20_000; seq++) tracker.see('reader', seq);
    expect(tracker.kept('reader')).toBeLessThanOrEqual(2 * SYNC_HORIZON);
    expect(tracker.gaps()).toEqual([]);
    tracker.see('reader', 20_003);
    expect(tracker.gaps()).toEqual([
      ['reader', 20_002],
      ['reader', 20_001],
    ]);
  });
});
