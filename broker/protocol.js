// The few mqchat protocol checks the broker needs in authenticated mode, mirrored from src/protocol/ (which
// is TypeScript and cannot be imported by the broker at runtime). Keep in step with docs/PROTOCOL.md:
//   topics      src/protocol/topics.ts  (TOPIC-1, TOPIC-2), rooms.ts (ROOM-1, ROOM-2), ids.ts (ID-1, ENV-3)
//   envelope    src/protocol/envelope.ts (ENV-1, ENV-4), canonical.ts (SIG-2), keys.ts (SIG-1, SIG-3)
// The broker checks authorship (who signed what, on which topic), not content: receivers still validate
// every field (ENV-2) themselves. tests/integration/broker-auth.test.ts checks the mirror against src/.

import { createPublicKey, verify } from 'node:crypto';

/** Payloads above this are refused unread (ENV-1); sealed DMs have the same cap (DM-5). */
export const ENVELOPE_MAX_BYTES = 64 * 1024;

const USER_ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const MESSAGE_ID_PATTERN = /^[0-9a-f]{32}$/;
/** 64 bytes in base64url without padding: 86 characters, the last carrying 2 bits (so 4 letters). */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{85}[AQgw]$/;
const PAGE_PATTERN = /^(0|[1-9][0-9]{0,9})$/;
const MAX_PAGE = 1_000_000_000;
const ROOM_MAX_LENGTH = 32;
const ROOM_ALLOWED = /^[\p{L}\p{N}][\p{L}\p{N}\p{M}_-]*$/u;

/** @param {unknown} value @returns {value is string} */
export const isUserId = (value) => typeof value === 'string' && USER_ID_PATTERN.test(value);

/** @param {unknown} value @returns {value is string} */
export const isMessageId = (value) => typeof value === 'string' && MESSAGE_ID_PATTERN.test(value);

/**
 * True when `room` is already in normal form (ROOM-1, ROOM-2).
 * @param {string} room
 */
export function isRoomName(room) {
  const normal = room.normalize('NFKC').trim().toLowerCase().replace(/\s+/g, '-');
  return (
    normal === room && normal.length > 0 && [...normal].length <= ROOM_MAX_LENGTH && ROOM_ALLOWED.test(normal)
  );
}

/**
 * A parsed mqchat topic, as src/protocol/topics.ts `parseTopic` returns it.
 * @typedef {{ kind: 'message', room: string, page: number, id: string }
 *   | { kind: 'head', room: string }
 *   | { kind: 'sync', room: string }
 *   | { kind: 'page', room: string, page: number }
 *   | { kind: 'react', room: string, page: number, id: string, user: string }
 *   | { kind: 'here', room: string, user: string }
 *   | { kind: 'typing', room: string, user: string }
 *   | { kind: 'directory', room: string }
 *   | { kind: 'status', user: string }
 *   | { kind: 'key', user: string }
 *   | { kind: 'dm', owner: string, id: string }} Topic
 */

/**
 * @param {string | undefined} text
 * @returns {number | undefined}
 */
function parsePage(text) {
  if (text === undefined || !PAGE_PATTERN.test(text)) return undefined;
  const page = Number(text);
  return page <= MAX_PAGE ? page : undefined;
}

/**
 * Parses a topic under `<prefix>/v1/`; undefined for anything that is not a well-formed mqchat topic.
 * @param {string} prefix
 * @param {string} topic
 * @returns {Topic | undefined}
 */
export function parseTopic(prefix, topic) {
  const base = `${prefix}/v1/`;
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
  const id = rest[0];
  if (area === 'dm' && isUserId(name) && rest.length === 1 && isMessageId(id)) {
    return { kind: 'dm', owner: name, id };
  }
  return undefined;
}

/**
 * @param {string} room
 * @param {string[]} levels
 * @returns {Topic | undefined}
 */
function parseRoomTopic(room, levels) {
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
}

/**
 * The user a topic belongs to by its levels (ENV-4: `from` must equal it), if it names one.
 * @param {Topic} topic
 * @returns {string | undefined}
 */
export function topicUser(topic) {
  if (topic.kind === 'dm') return topic.owner;
  return 'user' in topic ? topic.user : undefined;
}

/**
 * Canonical JSON (SIG-2): keys sorted by UTF-16 code units, no white space, JSON.stringify escaping,
 * safe integers only. Throws RangeError for other numbers; `skip` leaves out one top-level key (`sig`).
 * @param {unknown} value
 * @param {string} [skip]
 * @returns {string}
 */
export function canonicalJson(value, skip) {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError('canonical JSON allows safe integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (typeof value !== 'object') throw new TypeError('not JSON');
  const object = /** @type {Record<string, unknown>} */ (value);
  const keys = Object.keys(object)
    .filter((key) => key !== skip)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A payload read as one JSON object (ENV-1): size first, then strict UTF-8, then JSON. Never throws.
 * @param {Uint8Array} payload
 * @returns {Record<string, unknown> | undefined}
 */
export function readJsonObject(payload) {
  if (payload.length === 0 || payload.length > ENVELOPE_MAX_BYTES) return undefined;
  try {
    const value = JSON.parse(strictUtf8.decode(payload));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** DER prefix that wraps a raw 32-byte Ed25519 public key as SubjectPublicKeyInfo (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** Imported keys by user id: importing costs more than verifying a short message. */
const keyCache = new Map();
const KEY_CACHE_LIMIT = 4096;

/**
 * @param {string} userId
 * @returns {import('node:crypto').KeyObject | undefined}
 */
function publicKeyOf(userId) {
  const cached = keyCache.get(userId);
  if (cached !== undefined) return cached ?? undefined;
  /** @type {import('node:crypto').KeyObject | null} */
  let key = null;
  if (isUserId(userId)) {
    try {
      const der = Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(userId, 'base64url')]);
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
  }
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value);
  keyCache.set(userId, key);
  return key ?? undefined;
}

/**
 * Verifies an Ed25519 signature (base64url, 86 characters) by `userId` over `bytes`; false, never a
 * throw, for malformed input.
 * @param {string} userId
 * @param {Uint8Array} bytes
 * @param {unknown} signature
 */
export function verifySignature(userId, bytes, signature) {
  if (typeof signature !== 'string' || !SIGNATURE_PATTERN.test(signature)) return false;
  const key = publicKeyOf(userId);
  if (!key) return false;
  try {
    return verify(null, bytes, key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/**
 * The envelope types each topic kind carries (section 1 of PROTOCOL.md, ENV-4).
 * @type {Record<Exclude<Topic['kind'], 'dm'>, readonly string[]>}
 */
const TYPES_BY_KIND = {
  message: ['msg', 'del'],
  head: ['head'],
  sync: ['sync'],
  page: ['page'],
  react: ['react'],
  here: ['here'],
  typing: ['typing'],
  directory: ['room'],
  status: ['gone'],
  key: ['key'],
};

/**
 * @typedef {{ ok: true, from: string, type: string } | { ok: false, reason: string }} EnvelopeVerdict
 */

/**
 * Checks a signed envelope the way the broker needs it: it parses (ENV-1), has `v`, `from`, `ts`, `sig`,
 * a type that fits the topic, ids and page equal to the topic's (ENV-4), and a signature by `from` over
 * this topic (SIG-1). Field contents beyond that are the receivers' business (ENV-2).
 * @param {string} topicName
 * @param {Exclude<Topic, { kind: 'dm' }>} topic
 * @param {Uint8Array} payload
 * @returns {EnvelopeVerdict}
 */
export function checkEnvelope(topicName, topic, payload) {
  const envelope = readJsonObject(payload);
  if (!envelope) return { ok: false, reason: 'not a JSON object of at most 64 KiB' };
  const { v, t, from, ts } = envelope;
  if (v !== 1 || !isUserId(from) || !Number.isSafeInteger(ts) || /** @type {number} */ (ts) <= 0) {
    return { ok: false, reason: 'missing or malformed v, from or ts' };
  }
  if (typeof t !== 'string' || !TYPES_BY_KIND[topic.kind].includes(t)) {
    return { ok: false, reason: `type ${JSON.stringify(t)} does not fit a ${topic.kind} topic` };
  }
  if ('id' in topic && envelope.id !== topic.id) return { ok: false, reason: 'id differs from the topic' };
  if (topic.kind === 'page' && envelope.page !== topic.page) {
    return { ok: false, reason: 'page differs from the topic' };
  }
  const owner = topicUser(topic);
  if (owner !== undefined && owner !== from) return { ok: false, reason: 'from differs from the topic user' };
  let canonical;
  try {
    canonical = canonicalJson(envelope, 'sig');
  } catch {
    return { ok: false, reason: 'not canonicalisable (a non-integer number, or nested too deep)' };
  }
  const signed = Buffer.from(`mqchat-sig-v1\n${topicName}\n${canonical}`, 'utf8');
  if (!verifySignature(from, signed, envelope.sig)) return { ok: false, reason: 'signature does not verify' };
  return { ok: true, from, type: t };
}

/**
 * The sealed outer DM object (DM-2), checked only as far as the broker can: a JSON object of at most
 * 64 KiB with `v` 1, `t` "dm" and the topic's id. Its content is opaque to the broker.
 * @param {{ id: string }} topic
 * @param {Uint8Array} payload
 * @returns {string | undefined} a reason when refused
 */
export function checkSealedDm(topic, payload) {
  const sealed = readJsonObject(payload);
  if (!sealed) return 'not a JSON object of at most 64 KiB';
  if (sealed.v !== 1 || sealed.t !== 'dm' || sealed.id !== topic.id) return 'not a sealed DM for this topic';
  return undefined;
}

/**
 * The `from` of a retained payload, without verifying anything: used to rebuild ownership at start.
 * @param {Uint8Array} payload
 * @returns {string | undefined}
 */
export function readFrom(payload) {
  const from = readJsonObject(payload)?.from;
  return isUserId(from) ? from : undefined;
}
