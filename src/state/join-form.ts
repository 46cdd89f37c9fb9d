import { checkBrokerUrl } from '../core/urls.ts';
import { cleanName } from '../protocol/names.ts';
import { normaliseRoomName } from '../protocol/rooms.ts';

/** What the join form holds: as typed, not yet cleaned. */
export interface JoinInput {
  name: string;
  room: string;
  url: string;
}

export type JoinErrors = {
  name?: 'empty';
  room?: 'empty' | 'too-long' | 'invalid';
  url?: 'invalid-url' | 'mixed-content';
};

export type JoinCheck = { ok: true; value: JoinInput } | { ok: false; errors: JoinErrors };

/** Validates and normalises the join form: cleaned name, normal-form room, checked URL. */
export const checkJoin = (input: JoinInput, pageProtocol: string): JoinCheck => {
  const name = cleanName(input.name);
  const room = normaliseRoomName(input.room);
  const url = checkBrokerUrl(input.url, pageProtocol);
  if (name !== '' && room.ok && url.ok) return { ok: true, value: { name, room: room.room, url: url.url } };
  return {
    ok: false,
    errors: {
      ...(name === '' && { name: 'empty' as const }),
      ...(!room.ok && { room: room.error }),
      ...(!url.ok && { url: url.error }),
    },
  };
};

export const DEFAULT_ROOM = 'lobby';

/**
 * The broker URL offered when nothing else says: the build's VITE_BROKER_URL, else the bundled
 * broker's port on the host that served a local page, else on localhost.
 */
export const defaultBrokerUrl = (fromEnv: string | undefined, hostname: string): string => {
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.trim();
  const local = hostname === 'localhost' || hostname === '127.0.0.1';
  return `ws://${local ? hostname : 'localhost'}:8888`;
};

/** Prefill order: a link's query (?broker=…&room=…), then what was used last time, then defaults. */
export const prefill = (saved: Partial<JoinInput>, search: string, fallbackUrl: string): JoinInput => {
  const query = new URLSearchParams(search);
  return {
    name: saved.name ?? '',
    room: query.get('room') ?? saved.room ?? DEFAULT_ROOM,
    url: query.get('broker') ?? saved.url ?? fallbackUrl,
  };
};

export type RoomListCheck =
  { ok: true; rooms: string[] } | { ok: false; error: 'empty' | 'too-long' | 'invalid'; part: string };

/**
 * The "New room" field: one room, or several separated by commas ("news, random"), each normalised
 * (rule ROOM-1). Commas are never part of a room name, so the list is unambiguous.
 */
export const checkRoomList = (input: string): RoomListCheck => {
  const parts = input.includes(',') ? input.split(',').filter((part) => part.trim() !== '') : [input];
  const rooms: string[] = [];
  for (const part of parts.length > 0 ? parts : ['']) {
    const result = normaliseRoomName(part);
    if (!result.ok) return { ok: false, error: result.error, part: part.trim() };
    if (!rooms.includes(result.room)) rooms.push(result.room);
  }
  return { ok: true, rooms };
};
