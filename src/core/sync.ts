/**
 * Gap detection (PROTOCOL.md rules SYNC-1..SYNC-4): senders number their messages per room; a
 * receiver that saw seq 4 and 6 of a sender knows 5 is missing and asks peers to re-deliver it.
 */
/** Gaps further back than this below a sender's newest seq are history, not losses. */
export const SYNC_HORIZON = 500;
export const SYNC_MAX_WANT = 50;

export class SeqTracker {
  /**
   * Per sender: the first and newest seq seen, and which of the last SYNC_HORIZON seqs were seen. Older
   * ones are never asked for, so they are not kept: a sender's 10,000 loaded messages cost a set of at
   * most 2 × SYNC_HORIZON numbers, pruned back to SYNC_HORIZON when it fills.
   */
  readonly #senders = new Map<string, { first: number; max: number; seen: Set<number> }>();

  see(user: string, seq: number): void {
    const known = this.#senders.get(user);
    if (known === undefined) {
      this.#senders.set(user, { first: seq, max: seq, seen: new Set([seq]) });
      return;
    }
    known.first = Math.min(known.first, seq);
    if (seq <= known.max - SYNC_HORIZON) return;
    known.seen.add(seq);
    known.max = Math.max(known.max, seq);
    if (known.seen.size > 2 * SYNC_HORIZON) {
      const floor = known.max - SYNC_HORIZON;
      for (const old of known.seen) if (old <= floor) known.seen.delete(old);
    }
  }

  /** Missing (user, seq) pairs between the first and newest seq seen of each sender, newest first. */
  gaps(limit = SYNC_MAX_WANT): [string, number][] {
    const out: [string, number][] = [];
    for (const [user, { first, max, seen }] of this.#senders) {
      for (let seq = max - 1; seq > Math.max(first, max - SYNC_HORIZON) && out.length < limit; seq--) {
        if (!seen.has(seq)) out.push([user, seq]);
      }
    }
    return out;
  }

  max(user: string): number {
    return this.#senders.get(user)?.max ?? 0;
  }

  /** How many seqs are kept for a sender (for tests: the set stays bounded). */
  kept(user: string): number {
    return this.#senders.get(user)?.seen.size ?? 0;
  }
}
