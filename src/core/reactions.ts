/**
 * Reactions per message (PROTOCOL.md rules REACT-1..REACT-3): each user owns one retained topic per
 * message holding their whole reaction set; the newest set by timestamp wins, so every client that
 * saw the same topics shows the same counts.
 */
export interface ReactionSet {
  ts: number;
  react: string[];
}

export class Reactions {
  readonly #byMessage = new Map<string, Map<string, ReactionSet>>();

  /** Applies one user's set; returns false when it is older than what is known (a stale replay). */
  apply(id: string, user: string, set: ReactionSet): boolean {
    let users = this.#byMessage.get(id);
    if (users === undefined) this.#byMessage.set(id, (users = new Map()));
    const known = users.get(user);
    if (known !== undefined && known.ts >= set.ts) return false;
    users.set(user, set);
    return true;
  }

  mine(id: string, user: string): ReactionSet {
    return this.#byMessage.get(id)?.get(user) ?? { ts: 0, react: [] };
  }

  /** Reaction → users who chose it, for one message. */
  summary(id: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [user, set] of this.#byMessage.get(id) ?? [])
      for (const r of set.react) (out[r] ??= []).push(user);
    return out;
  }
}
