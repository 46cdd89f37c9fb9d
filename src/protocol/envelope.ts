import { canonicalJson, type Json } from './canonical.ts';
import { fromUtf8, utf8 } from './bytes.ts';
import { isMessageId, isUserId } from './ids.ts';
import { signBytes, verifyBytes, type Identity } from './keys.ts';
import { cleanName, cleanText, isCleanName } from './names.ts';
import { REACTIONS } from './reactions.ts';
import { MAX_PAGE } from './topics.ts';

/**
 * The signed envelope (PROTOCOL.md section "Envelope"). Every payload mqchat publishes is one UTF-8
 * JSON object with `v`, `t` (its type), `from`, `ts` and `sig`; `sig` signs the topic too (rule SIG-1),
 * so an envelope replayed on another topic does not verify.
 */
export const ENVELOPE_VERSION = 1;
/** Payloads above this are rejected before parsing (rule ENV-1). */
export const ENVELOPE_MAX_BYTES = 64 * 1024;
/** Message text limit in UTF-16 code units (rule MSG-2). */
export const TEXT_MAX_LENGTH = 8000;
/** Timestamps more than this far ahead of the receiver's clock are clamped to its clock (rule MSG-5). */
export const FUTURE_SKEW_MS = 60_000;

interface Base<T extends string> {
  v: 1;
  t: T;
  /** The signer's user id (rule ID-1). */
  from: string;
  /** Milliseconds since the epoch, the signer's clock. */
  ts: number;
  sig: string;
}

/** A room message (rules MSG-1..MSG-6). An edit republishes it with `edited` set (rule EDIT-1). */
export interface MessageEnvelope extends Base<'msg'> {
  id: string;
  name: string;
  text: string;
  /** Id of the quoted message (rule REPLY-1). */
  reply?: string;
  /** Time of the latest edit; `ts` stays the time of writing (rule EDIT-1). */
  edited?: number;
  /** The sender's sequence number in this room, from 1 (rule SYNC-1). */
  seq?: number;
}

/** A tombstone that replaces a deleted message on its own topic (rule EDIT-2). */
export interface DeleteEnvelope extends Base<'del'> {
  id: string;
}

/** The newest page of a room (rule HIST-4), or a marker that a page holds messages (rule HIST-5). */
export interface PageEnvelope extends Base<'head' | 'page'> {
  page: number;
}

/** One user's reactions to one message: the whole set, last write wins (rules REACT-1..REACT-3). */
export interface ReactEnvelope extends Base<'react'> {
  id: string;
  react: string[];
}

/** Presence in a room (rules PRES-1..PRES-5): `hb` is the seconds until the next beat. */
export interface HereEnvelope extends Base<'here'> {
  name: string;
  conn: string;
  hb: number;
  on: boolean;
}

/** A connection ended; published by the broker as the Last Will (rule PRES-3). */
export interface StatusEnvelope extends Base<'gone'> {
  conn: string;
}

export type TypingEnvelope = Base<'typing'>;

/** A room directory entry (rule ROOM-3). */
export interface RoomEnvelope extends Base<'room'> {
  title: string;
  desc: string;
}

/** A request to re-deliver messages, by sender and sequence number (rule SYNC-2). */
export interface SyncEnvelope extends Base<'sync'> {
  want: [string, number][];
}

/** A DM key announcement: the X25519 public key, signed by the identity key (rule DM-1). */
export interface KeyEnvelope extends Base<'key'> {
  dh: string;
}

/** The signed plaintext inside a sealed DM (rule DM-3). */
export interface DirectEnvelope extends Base<'dmi'> {
  id: string;
  to: string;
  name: string;
  text: string;
}

export type Envelope =
  | MessageEnvelope
  | DeleteEnvelope
  | PageEnvelope
  | ReactEnvelope
  | HereEnvelope
  | StatusEnvelope
  | TypingEnvelope
  | RoomEnvelope
  | KeyEnvelope
  | DirectEnvelope
  | SyncEnvelope;

export type Unsigned<E extends Envelope> = E extends Envelope ? Omit<E, 'sig'> : never;

export type RejectReason = 'oversize' | 'utf8' | 'json' | 'schema' | 'signature' | 'topic';
export type Decoded<E> = { ok: true; envelope: E } | { ok: false; reason: RejectReason };

type Field = (value: unknown) => boolean;

const isTimestamp: Field = (value) => Number.isSafeInteger(value) && (value as number) > 0;
const isText: Field = (value) =>
  typeof value === 'string' &&
  value.length > 0 &&
  value.length <= TEXT_MAX_LENGTH &&
  value.trim().length > 0 &&
  cleanText(value) === value;
const isName: Field = (value) => typeof value === 'string' && isCleanName(value);
const isPage: Field = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_PAGE;
const isBoolean: Field = (value) => typeof value === 'boolean';
const isConn: Field = (value) => typeof value === 'string' && /^[0-9a-f]{12}$/.test(value);
/** Heartbeat intervals from 10 s to 6 h (rule PRES-2). */
const isHeartbeat: Field = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 10 && (value as number) <= 21_600;
const isKey: Field = (value) => typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
const isReactionSet: Field = (value) =>
  Array.isArray(value) &&
  value.length <= REACTIONS.length &&
  value.every((item, i) => typeof item === 'string' && REACTIONS.includes(item) && value.indexOf(item) === i);
const isTitle: Field = (value) =>
  typeof value === 'string' && value.length <= 80 && cleanName(value) === value;
const isDescription: Field = (value) =>
  typeof value === 'string' && value.length <= 280 && cleanText(value) === value;
const isSeq: Field = (value) => Number.isSafeInteger(value) && (value as number) >= 1;
/** At most 50 (user id, sequence number) pairs per sync request (rule SYNC-2). */
const isWantList: Field = (value) =>
  Array.isArray(value) &&
  value.length >= 1 &&
  value.length <= 50 &&
  value.every((pair) => Array.isArray(pair) && pair.length === 2 && isUserId(pair[0]) && isSeq(pair[1]));
const isSignature: Field = (value) => typeof value === 'string' && /^[A-Za-z0-9_-]{86}$/.test(value);

type Schema = { required: Record<string, Field>; optional: Record<string, Field> };

const SCHEMAS: Record<Envelope['t'], Schema> = {
  msg: {
    required: { id: isMessageId, name: isName, text: isText },
    optional: { reply: isMessageId, edited: isTimestamp, seq: isSeq },
  },
  del: { required: { id: isMessageId }, optional: {} },
  head: { required: { page: isPage }, optional: {} },
  page: { required: { page: isPage }, optional: {} },
  react: { required: { id: isMessageId, react: isReactionSet }, optional: {} },
  here: { required: { name: isName, conn: isConn, hb: isHeartbeat, on: isBoolean }, optional: {} },
  gone: { required: { conn: isConn }, optional: {} },
  typing: { required: {}, optional: {} },
  room: { required: { title: isTitle, desc: isDescription }, optional: {} },
  key: { required: { dh: isKey }, optional: {} },
  sync: { required: { want: isWantList }, optional: {} },
  dmi: { required: { id: isMessageId, to: isUserId, name: isName, text: isText }, optional: {} },
};

const COMMON: Record<string, Field> = {
  v: (value) => value === ENVELOPE_VERSION,
  t: (value) => typeof value === 'string' && Object.hasOwn(SCHEMAS, value),
  from: isUserId,
  ts: isTimestamp,
  sig: isSignature,
};

/** Strict schema check: every required field valid, no field unknown to this type (rule ENV-2). */
const matchesSchema = (value: Record<string, unknown>): boolean => {
  for (const [key, check] of Object.entries(COMMON)) if (!check(value[key])) return false;
  const schema = SCHEMAS[value.t as Envelope['t']];
  for (const [key, check] of Object.entries(schema.required)) if (!check(value[key])) return false;
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(COMMON, key) || Object.hasOwn(schema.required, key)) continue;
    // hasOwn, not a plain lookup: `constructor` or `__proto__` must not find Object.prototype's members.
    if (!Object.hasOwn(schema.optional, key) || !schema.optional[key]!(value[key])) return false;
  }
  return true;
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The bytes a signature covers (rule SIG-1). */
export const signingBytes = (topic: string, unsigned: object): Uint8Array<ArrayBuffer> =>
  utf8(`mqchat-sig-v1\n${topic}\n${canonicalJson(unsigned as Json)}`);

export const signEnvelope = async <E extends Envelope>(
  identity: Identity,
  topic: string,
  unsigned: Unsigned<E>,
): Promise<E> => {
  const sig = await signBytes(identity, signingBytes(topic, unsigned));
  return { ...unsigned, sig } as unknown as E;
};

export const encodeEnvelope = (envelope: Envelope): Uint8Array<ArrayBuffer> =>
  utf8(canonicalJson(envelope as unknown as Json));

/**
 * Parses and checks the shape of a payload without verifying the signature. Never throws: anything
 * it does not recognise becomes a rejection reason (rule ENV-1, ENV-2).
 */
export const parseEnvelope = (payload: Uint8Array): Decoded<Envelope> => {
  if (payload.length > ENVELOPE_MAX_BYTES) return { ok: false, reason: 'oversize' };
  const text = fromUtf8(payload);
  if (text === undefined) return { ok: false, reason: 'utf8' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'json' };
  }
  if (!isPlainObject(value) || !matchesSchema(value)) return { ok: false, reason: 'schema' };
  return { ok: true, envelope: value as unknown as Envelope };
};

/** Verifies the envelope's signature against the topic it arrived on (rule SIG-3). */
export const verifyEnvelope = async (topic: string, envelope: Envelope): Promise<boolean> => {
  const { sig, ...unsigned } = envelope;
  return verifyBytes(envelope.from, signingBytes(topic, unsigned), sig);
};

/** parseEnvelope + verifyEnvelope. */
export const decodeEnvelope = async (topic: string, payload: Uint8Array): Promise<Decoded<Envelope>> => {
  const parsed = parseEnvelope(payload);
  if (!parsed.ok) return parsed;
  return (await verifyEnvelope(topic, parsed.envelope)) ? parsed : { ok: false, reason: 'signature' };
};

/** Counts rejected payloads by reason, so a client can show and test what it dropped. */
export class Rejections {
  readonly counts: Record<RejectReason, number> = {
    oversize: 0,
    utf8: 0,
    json: 0,
    schema: 0,
    signature: 0,
    topic: 0,
  };
  total = 0;

  add(reason: RejectReason): void {
    this.counts[reason] += 1;
    this.total += 1;
  }
}
