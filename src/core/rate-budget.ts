/**
 * Per-sender token buckets (PROTOCOL.md rule FLOOD-1): a sender may show `perSecond` live messages a
 * second with bursts of `burst`; past that its messages are dropped, so one flooder with a valid key
 * cannot freeze the page.
 */
export class RateBudget {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #rate: { perSecond: number; burst: number };
  readonly #now: () => number;

  constructor(rate: { perSecond: number; burst: number }, now: () => number) {
    this.#rate = rate;
    this.#now = now;
  }

  take(sender: string): boolean {
    const now = this.#now();
    const bucket = this.#buckets.get(sender) ?? { tokens: this.#rate.burst, at: now };
    bucket.tokens = Math.min(
      this.#rate.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.#rate.perSecond,
    );
    bucket.at = now;
    if (this.#buckets.size > 10_000) this.#buckets.clear();
    this.#buckets.set(sender, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
