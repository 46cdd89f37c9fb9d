/**
 * Room names (PROTOCOL.md rules ROOM-1..ROOM-2). A room name is one topic level, so it must never
 * contain `/`, `+`, `#` or control characters, and two spellings of one room must map to one topic.
 */
export const ROOM_MAX_LENGTH = 32;

export type RoomNameResult =
  { ok: true; room: string } | { ok: false; error: 'empty' | 'too-long' | 'invalid' };

const ALLOWED = /^[\p{L}\p{N}][\p{L}\p{N}\p{M}_-]*$/u;

/** Normalises user input to a room name: NFKC, lower case, trimmed, inner spaces to `-`. */
export const normaliseRoomName = (input: string): RoomNameResult => {
  const room = input.normalize('NFKC').trim().toLowerCase().replace(/\s+/g, '-');
  if (room.length === 0) return { ok: false, error: 'empty' };
  if ([...room].length > ROOM_MAX_LENGTH) return { ok: false, error: 'too-long' };
  if (!ALLOWED.test(room)) return { ok: false, error: 'invalid' };
  return { ok: true, room };
};

/** True when `room` is already in normal form (what receivers require of topics, rule ROOM-2). */
export const isRoomName = (room: string): boolean => {
  const result = normaliseRoomName(room);
  return result.ok && result.room === room;
};
