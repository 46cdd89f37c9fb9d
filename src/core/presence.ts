/**
 * Presence bookkeeping for one room (PROTOCOL.md rules PRES-1..PRES-5), pure and clock-driven.
 *
 * Cost: each beat of one member reaches all N members, so a room costs N²/H deliveries a second for a
 * beat every H seconds. H grows with the room (heartbeatSeconds), which caps what one member receives
 * at about 30 presence deliveries a minute however large the room grows.
 */
export const MIN_HEARTBEAT_S = 60;
export const MAX_HEARTBEAT_S = 21_600;
/** A member that missed this many beats in a row is gone (rule PRES-4). */
export const EXPIRY_BEATS = 2.5;

/** Seconds between beats for a room of `members` (rule PRES-2): max(60, 2·N), at most 6 h. */
export const heartbeatSeconds = (members: number): number =>
  Math.min(MAX_HEARTBEAT_S, Math.max(MIN_HEARTBEAT_S, 2 * members));

export interface Member {
  user: string;
  name: string;
  conn: string;
  /** Receiver-clock time of the latest beat. */
  seen: number;
  hb: number;
}

export type PresenceChange = { kind: 'join' | 'leave'; user: string; name: string };

/** Connections remembered as gone per user: enough for a few tabs, bounded against floods. */
const GONE_KEPT = 4;

export class RoomPresence {
  readonly #members = new Map<string, Member>();
  /** Per user, the latest connections whose Last Will was seen (rule PRES-3). */
  readonly #gone = new Map<string, string[]>();

  get size(): number {
    return this.#members.size;
  }

  members(): Member[] {
    return [...this.#members.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || (a.user < b.user ? -1 : 1),
    );
  }

  has(user: string): boolean {
    return this.#members.has(user);
  }

  /** A `here` announcement: joins, refreshes or (on: false) leaves. `ts` is already clamped. */
  announce(
    user: string,
    fields: { name: string; conn: string; hb: number; on: boolean; ts: number },
    now: number,
  ): PresenceChange | undefined {
    const known = this.#members.get(user);
    // An announcement older than the one held changes nothing: after a reconnect the retained replay
    // can arrive after the fresh beat (and signatures are checked concurrently), rule PRES-5.
    if (known !== undefined && known.seen > fields.ts) return;
    // Nor does a beat of a connection already gone: conns are per connection, so it is a replay that
    // arrived after the will (rule PRES-3).
    if (fields.on && this.#gone.get(user)?.includes(fields.conn)) return;
    const fresh = fields.ts + fields.hb * 1000 * EXPIRY_BEATS > now;
    if (!fields.on || !fresh) {
      if (known === undefined) return;
      this.#members.delete(user);
      return { kind: 'leave', user, name: known.name };
    }
    this.#members.set(user, { user, name: fields.name, conn: fields.conn, seen: fields.ts, hb: fields.hb });
    return known === undefined ? { kind: 'join', user, name: fields.name } : undefined;
  }

  /** The Last Will of connection `conn` (rule PRES-3): the member leaves if that was its connection. */
  gone(user: string, conn: string): PresenceChange | undefined {
    const ended = this.#gone.get(user) ?? [];
    if (!ended.includes(conn)) this.#gone.set(user, [...ended, conn].slice(-GONE_KEPT));
    const known = this.#members.get(user);
    if (known === undefined || known.conn !== conn) return;
    this.#members.delete(user);
    return { kind: 'leave', user, name: known.name };
  }

  /** Members whose beats stopped (rule PRES-4). */
  expire(now: number): PresenceChange[] {
    const changes: PresenceChange[] = [];
    for (const member of this.#members.values()) {
      if (member.seen + member.hb * 1000 * EXPIRY_BEATS <= now) {
        this.#members.delete(member.user);
        changes.push({ kind: 'leave', user: member.user, name: member.name });
      }
    }
    return changes;
  }

  clear(): void {
    this.#members.clear();
    this.#gone.clear();
  }
}
