import { isMessageId } from './ids.ts';
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
  | { kind: 'page'; room: string; page: number };

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
  const parts = topic.slice(base.length).split('/');
  const [area, room, what, a, b, ...rest] = parts;
  if (area !== 'room' || room === undefined || !isRoomName(room) || rest.length > 0) return undefined;
  if (what === 'msg' && a !== undefined && b !== undefined) {
    const page = parsePage(a);
    return page !== undefined && isMessageId(b) ? { kind: 'message', room, page, id: b } : undefined;
  }
  if (what === 'head' && a === undefined) return { kind: 'head', room };
  if (what === 'page' && a !== undefined && b === undefined) {
    const page = parsePage(a);
    return page !== undefined ? { kind: 'page', room, page } : undefined;
  }
  return undefined;
};

