import { isMessageId, isUserId } from './ids.ts';
import { isRoomName } from './rooms.ts';

/**
 * Every topic mqchat uses is built and parsed here (PROTOCOL.md section "Topics").
 * Layout: `<prefix>/v1/...`; the prefix lets deployments share a public broker without colliding.
 */
export const PROTOCOL_VERSION = 'v1';
export const DEFAULT_PREFIX = 'mqchat';
/** The highest page number receivers accept (rule HIST-2); keeps topics short and numbers exact. */
export const MAX_PAGE = 1_000_000_000;

const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}(\/[A-Za-z0-9_-]{1,32}){0,3}$/;

export const isPrefix = (prefix: string): boolean => PREFIX_PATTERN.test(prefix);

export type Topic =
  | { kind: 'message'; room: string; page: number; id: string }
  | { kind: 'head'; room: string }
  | { kind: 'page'; room: string; page: number }
  | { kind: 'react'; room: string; page: number; id: string; user: string }
  | { kind: 'here'; room: string; user: string }
  | { kind: 'typing'; room: string; user: string }
  | { kind: 'sync'; room: string }
  | { kind: 'directory'; room: string }
  | { kind: 'status'; user: string }
  | { kind: 'key'; user: string }
  | { kind: 'dm'; owner: string; id: string };

export const topics = (prefix: string = DEFAULT_PREFIX) => {
  if (!isPrefix(prefix)) throw new Error(`invalid topic prefix: ${prefix}`);
  const base = `${prefix}/${PROTOCOL_VERSION}`;
  const room = (name: string) => `${base}/room/${name}`;
  return {
    prefix,
    base,
    /** Retained, QoS 1: one topic per room message (rule MSG-1). */
    message: (name: string, page: number, id: string) => `${room(name)}/msg/${page}/${id}`,
    /** Filter for every message of one page (rule HIST-3). */
    pageMessages: (name: string, page: number) => `${room(name)}/msg/${page}/+`,
    /** Retained, QoS 1: the room's newest page number (rule HIST-4). */
    head: (name: string) => `${room(name)}/head`,
    /** Retained, QoS 1: a marker per non-empty page, so older pages can be found (rule HIST-5). */
    page: (name: string, page: number) => `${room(name)}/page/${page}`,
    pages: (name: string) => `${room(name)}/page/+`,
    /** Retained, QoS 1: one user's reactions to one message (rule REACT-1). */
    react: (name: string, page: number, id: string, user: string) =>
      `${room(name)}/react/${page}/${id}/${user}`,
    pageReactions: (name: string, page: number) => `${room(name)}/react/${page}/+/+`,
    /** Retained, QoS 1: one user's presence in a room (rule PRES-1). */
    here: (name: string, user: string) => `${room(name)}/here/${user}`,
    present: (name: string) => `${room(name)}/here/+`,
    /** Not retained, QoS 1: requests to re-deliver missing messages (rule SYNC-2). */
    sync: (name: string) => `${room(name)}/sync`,
    /** Not retained, QoS 0: typing notices (rule PRES-6). */
    typing: (name: string, user: string) => `${room(name)}/typing/${user}`,
    typists: (name: string) => `${room(name)}/typing/+`,
    /** Retained, QoS 1: the room directory entry (rule ROOM-3). */
    directory: (name: string) => `${base}/dir/${name}`,
    directoryAll: () => `${base}/dir/+`,
    /** Retained, QoS 1: a user's connection status, the Last Will's topic (rule PRES-3). */
    status: (user: string) => `${base}/user/${user}/status`,
    /** Retained, QoS 1: a user's signed DM key announcement (rule DM-1). */
    key: (user: string) => `${base}/user/${user}/key`,
    /** Retained, QoS 1: one sealed direct message in `owner`'s inbox (rule DM-2). */
    dm: (owner: string, id: string) => `${base}/dm/${owner}/${id}`,
    inbox: (owner: string) => `${base}/dm/${owner}/+`,
  };
};

export type Topics = ReturnType<typeof topics>;

const parsePage = (text: string | undefined): number | undefined => {
  if (text === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(text)) return undefined;
  const page = Number(text);
  return page <= MAX_PAGE ? page : undefined;
};

/** Parses a topic under `prefix`; undefined for anything that is not a well-formed mqchat topic. */
export const parseTopic = (prefix: string, topic: string): Topic | undefined => {
  const base = `${prefix}/${PROTOCOL_VERSION}/`;
  if (!topic.startsWith(base)) return undefined;
  const [area, name, ...rest] = topic.slice(base.length).split('/');
  if (name === undefined) return undefined;
  if (area === 'room') return isRoomName(name) ? parseRoomTopic(name, rest) : undefined;
  if (area === 'dir')
    return isRoomName(name) && rest.length === 0 ? { kind: 'directory', room: name } : undefined;
  if (area === 'user' && isUserId(name) && rest.length === 1) {
    if (rest[0] === 'status') return { kind: 'status', user: name };
    if (rest[0] === 'key') return { kind: 'key', user: name };
  }
  if (area === 'dm' && isUserId(name) && rest.length === 1 && isMessageId(rest[0])) {
    return { kind: 'dm', owner: name, id: rest[0] };
  }
  return undefined;
};

const parseRoomTopic = (room: string, levels: string[]): Topic | undefined => {
  const [what, a, b, c, ...rest] = levels;
  if (rest.length > 0) return undefined;
  if (what === 'head' && a === undefined) return { kind: 'head', room };
  if (what === 'sync' && a === undefined) return { kind: 'sync', room };
  if ((what === 'here' || what === 'typing') && isUserId(a) && b === undefined)
    return { kind: what, room, user: a };
  const page = parsePage(a);
  if (page === undefined) return undefined;
  if (what === 'page' && b === undefined) return { kind: 'page', room, page };
  if (what === 'msg' && isMessageId(b) && c === undefined) return { kind: 'message', room, page, id: b };
  if (what === 'react' && isMessageId(b) && isUserId(c)) return { kind: 'react', room, page, id: b, user: c };
  return undefined;
};
