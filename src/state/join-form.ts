import { BROKER_PRESETS, readShareLink } from '../core/brokers.ts';
import { checkBrokerUrl } from '../core/urls.ts';
import { cleanName } from '../protocol/names.ts';
import { normaliseRoomName } from '../protocol/rooms.ts';
import { DEFAULT_PREFIX, isPrefix } from '../protocol/topics.ts';

/** The preset select's value when the URL is none of BROKER_PRESETS. */
export const CUSTOM = 'custom';

/** What the join form holds: as typed, not yet cleaned. */
export interface JoinInput {
  name: string;
  room: string;
  url: string;
  /** A BROKER_PRESETS id, or CUSTOM. */
  preset: string;
  /** MQTT user name and password; '' for none. The password is never saved. */
  username: string;
  password: string;
  /** Sign in with key-bound credentials (PROTOCOL.md section 15) instead of a user name. */
  login: boolean;
  prefix: string;
}

export type JoinErrors = {
  name?: 'empty';
  room?: 'empty' | 'too-long' | 'invalid';
  url?: 'invalid-url' | 'mixed-content';
  prefix?: 'invalid';
};

export type JoinCheck = { ok: true; value: JoinInput } | { ok: false; errors: JoinErrors };

/**
 * Validates and normalises the join form: cleaned name, normal-form room, checked URL and prefix.
 * With `login` on, the user name and password are dropped: the key signs in instead.
 */
export const checkJoin = (input: JoinInput, pageProtocol: string): JoinCheck => {
  const name = cleanName(input.name);
  const room = normaliseRoomName(input.room);
  const url = checkBrokerUrl(input.url, pageProtocol);
  const prefix = input.prefix.trim();
  const prefixOk = isPrefix(prefix);
  if (name !== '' && room.ok && url.ok && prefixOk) {
    const credentials = input.login
      ? { username: '', password: '' }
      : { username: input.username, password: input.password };
    return {
      ok: true,
      value: { ...input, ...credentials, name, room: room.room, url: url.url, prefix },
    };
  }
  return {
    ok: false,
    errors: {
      ...(name === '' && { name: 'empty' as const }),
      ...(!room.ok && { room: room.error }),
      ...(!url.ok && { url: url.error }),
      ...(!prefixOk && { prefix: 'invalid' as const }),
    },
  };
};

const parse = (url: string): URL | undefined => {
  try {
    return new URL(url.trim());
  } catch {
    return undefined;
  }
};

/** The preset whose URL this is (compared as parsed URLs), else CUSTOM. */
export const presetFor = (url: string): string => {
  const href = parse(url)?.href;
  return BROKER_PRESETS.find((preset) => parse(preset.url)?.href === href)?.id ?? CUSTOM;
};

/** Whether the URL's host is one of the public presets' hosts: anyone can read what is sent there. */
export const isPublicBroker = (url: string): boolean => {
  const host = parse(url)?.hostname.toLowerCase();
  return (
    host !== undefined &&
    host !== '' &&
    BROKER_PRESETS.some((preset) => preset.public && parse(preset.url)?.hostname === host)
  );
};

/** The build's VITE_TOPIC_PREFIX when it is a valid prefix, else 'mqchat'. */
export const defaultPrefix = (fromEnv: string | undefined): string => {
  const prefix = fromEnv?.trim() ?? '';
  return isPrefix(prefix) ? prefix : DEFAULT_PREFIX;
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

/** What the join form remembers between visits: never the password. */
export type SavedJoin = Partial<Omit<JoinInput, 'password'>>;

/**
 * Prefill order: a share link's query (?broker=…&room=…&prefix=…, read by readShareLink), then what
 * was used last time, then the defaults. A link to another broker starts without the saved
 * credentials settings, which belong to the saved broker; a link's missing prefix means 'mqchat'
 * (shareLink leaves the default out).
 */
export const prefill = (
  saved: SavedJoin,
  search: string,
  defaults: { url: string; prefix: string },
): JoinInput => {
  const link = readShareLink(search);
  const url = link.broker ?? saved.url ?? defaults.url;
  const sameBroker = link.broker === undefined || parse(link.broker)?.href === parse(saved.url ?? '')?.href;
  const prefix =
    link.prefix ?? (link.broker !== undefined ? DEFAULT_PREFIX : (saved.prefix ?? defaults.prefix));
  const preset =
    saved.preset !== undefined && sameBroker && (saved.preset === CUSTOM || saved.preset === presetFor(url))
      ? saved.preset
      : presetFor(url);
  return {
    name: saved.name ?? '',
    room: link.room ?? saved.room ?? DEFAULT_ROOM,
    url,
    preset,
    username: sameBroker ? (saved.username ?? '') : '',
    password: '',
    login: sameBroker ? (saved.login ?? false) : false,
    prefix,
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
