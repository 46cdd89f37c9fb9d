import { describe, expect, it } from 'vitest';
import { EXPIRY_BEATS, heartbeatSeconds, RoomPresence } from '../../src/core/presence.ts';

describe('presence cost and expiry (PRES-2, PRES-4)', () => {
  it('keeps what one member receives at most 30 presence deliveries a minute, however large the room', () => {
    for (const members of [2, 10, 29, 30, 50, 200, 1000, 10_000]) {
      const perMemberPerMinute = ((members - 1) / heartbeatSeconds(members)) * 60;
      expect(perMemberPerMinute, `${members} members`).toBeLessThanOrEqual(30);
    }
    expect(heartbeatSeconds(1000)).toBe(2000);
    expect(heartbeatSeconds(5)).toBe(60);
  });

  it('drops a member after 2.5 missed beats, and only the connection its will names', () => {
    const room = new RoomPresence();
    expect(room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: 0 }, 0)).toEqual({
      kind: 'join',
      user: 'u1',
      name: 'A',
    });
    expect(room.gone('u1', 'other-conn')).toBeUndefined();
    expect(room.expire(60_000 * EXPIRY_BEATS - 1)).toEqual([]);
    expect(room.expire(60_000 * EXPIRY_BEATS)).toEqual([{ kind: 'leave', user: 'u1', name: 'A' }]);
  });

  it('keeps the newest beat when an older one arrives after it, e.g. the retained replay after a reconnect', () => {
    const room = new RoomPresence();
    const now = 1_000_000;
    room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: now }, now);
    expect(
      room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: now - 50_000 }, now),
    ).toBeUndefined();
    expect(room.members()[0]?.seen).toBe(now);
    // Nor does an older "off" from the same connection take the member away.
    expect(
      room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: false, ts: now - 1 }, now),
    ).toBeUndefined();
    expect(room.size).toBe(1);
    // A newer one still does.
    expect(room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: false, ts: now + 1 }, now)).toEqual({
      kind: 'leave',
      user: 'u1',
      name: 'A',
    });
  });

  it("ignores the will of a member's earlier connection, and beats of a connection already gone (PRES-3)", () => {
    const room = new RoomPresence();
    const now = 1_000_000;
    room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: now }, now);
    // Reconnected: a new conn per connection (PRES-1).
    room.announce('u1', { name: 'A', conn: 'c2', hb: 60, on: true, ts: now + 1000 }, now + 1000);
    expect(room.gone('u1', 'c1')).toBeUndefined();
    expect(room.members().map((m) => m.conn)).toEqual(['c2']);
    // The retained replay of c1's beat arriving after c1's will brings nobody back.
    const other = new RoomPresence();
    expect(other.gone('u1', 'c1')).toBeUndefined();
    expect(other.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: now }, now)).toBeUndefined();
    expect(other.size).toBe(0);
    expect(other.announce('u1', { name: 'A', conn: 'c2', hb: 60, on: true, ts: now }, now)).toEqual({
      kind: 'join',
      user: 'u1',
      name: 'A',
    });
  });

  it('ignores a stale announcement that arrives already expired', () => {
    const room = new RoomPresence();
    expect(
      room.announce('u1', { name: 'A', conn: 'c1', hb: 60, on: true, ts: 0 }, 10 * 60_000),
    ).toBeUndefined();
    expect(room.size).toBe(0);
  });
});
