// Retention of mqchat room history (docs/PROTOCOL.md, rule HIST-8).
//
// mqchat keeps room history as retained messages, one topic per message, spread over numbered pages:
//   <prefix>/v1/room/<room>/msg/<page>/<id>          the message (or its `del` tombstone)
//   <prefix>/v1/room/<room>/react/<page>/<id>/<user> one user's reactions to it
//   <prefix>/v1/room/<room>/page/<page>              marker: page <page> holds messages
// MQTT 3.1.1 has no message expiry, so without help a broker keeps every message forever. The sweep here
// deletes messages whose signed envelope `ts` is older than `maxAgeDays` and, optionally, the oldest
// messages of rooms holding more than `maxPerRoom`; then the reactions of the deleted messages and the
// markers of pages left empty. Deleting means storing an empty retained payload straight into persistence
// (the effect of a zero-length retained PUBLISH [MQTT-3.3.1-10]) without forwarding an empty message to
// every subscriber of the room: clients keep their local copies (HIST-8).

import { OptionError } from './errors.js';

const DAY_MS = 24 * 3_600_000;

/** Receivers reject larger payloads unread (PROTOCOL.md ENV-1); so does the sweep. */
const MAX_ENVELOPE_BYTES = 64 * 1024;

/** PROTOCOL.md section 1: one to four levels of [A-Za-z0-9_-]{1,32}. */
const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}(\/[A-Za-z0-9_-]{1,32}){0,3}$/;
const PAGE_PATTERN = /^(0|[1-9][0-9]{0,9})$/;
const MESSAGE_ID_PATTERN = /^[0-9a-f]{32}$/;

/**
 * Retention policy. Defaults: maxAgeDays 30, maxPerRoom 0 (off), prefix 'mqchat', intervalMs 1 hour,
 * now Date.now.
 * @typedef {object} RetentionOptions
 * @property {number} [maxAgeDays] delete messages older than this many days; 0 keeps them forever
 * @property {number} [maxPerRoom] keep at most this many messages per room; 0 = no cap
 * @property {string} [prefix] topic prefix of the chat deployment
 * @property {number} [intervalMs] time between sweeps after the one at start
 * @property {() => number} [now] clock in epoch milliseconds, injectable for tests
 */

/** @typedef {Required<RetentionOptions>} RetentionPolicy */

/** @type {RetentionPolicy} */
export const RETENTION_DEFAULTS = Object.freeze({
  maxAgeDays: 30,
  maxPerRoom: 0,
  prefix: 'mqchat',
  intervalMs: 3_600_000,
  now: () => Date.now(),
});

/**
 * What the sweep knows about one retained room topic.
 * @typedef {object} RoomRecord
 * @property {string} topic
 * @property {'msg' | 'react' | 'page'} kind
 * @property {string} room
 * @property {number} page
 * @property {string} [id] the message id, for `msg` and `react`
 * @property {number} [ts] envelope time in epoch ms; absent when the payload is unreadable (or a marker)
 */

/** @typedef {Omit<RoomRecord, 'ts'>} RoomTopic */

/**
 * Filter matching every retained room topic under `prefix` (presence and head markers included; the sweep
 * ignores those).
 * @param {string} prefix
 */
export function roomFilter(prefix) {
  return `${prefix}/v1/room/+/#`;
}

/**
 * Reads the room topics retention cares about; anything else (other kinds, malformed levels, another
 * prefix) gives `undefined` and is never touched.
 * @param {string} topic
 * @param {string} prefix
 * @returns {RoomTopic | undefined}
 */
export function parseRoomTopic(topic, prefix) {
  const base = `${prefix}/v1/room/`;
  if (!topic.startsWith(base)) return undefined;
  const [room, kind, pageText, id, user, ...rest] = topic.slice(base.length).split('/');
  if (!room || !pageText || !PAGE_PATTERN.test(pageText) || rest.length > 0) return undefined;
  const page = Number(pageText);
  if (page > 1_000_000_000) return undefined;
  if (kind === 'page' && id === undefined) return { topic, kind, room, page };
  if (id === undefined || !MESSAGE_ID_PATTERN.test(id)) return undefined;
  if (kind === 'msg' && user === undefined) return { topic, kind, room, page, id };
  if (kind === 'react' && user) return { topic, kind, room, page, id };
  return undefined;
}

/**
 * The `ts` of a message (`msg`/`del`) or reaction (`react`) envelope, or `undefined` if the payload is not
 * a readable envelope of that kind. Signatures are not checked: the broker cannot tell a forged date from
 * a real one, and a forger could as well clear the topic (see docs/BROKER.md).
 * @param {Uint8Array} payload
 * @param {'msg' | 'react'} kind
 * @returns {number | undefined}
 */
export function readEnvelopeTs(payload, kind) {
  if (payload.length === 0 || payload.length > MAX_ENVELOPE_BYTES) return undefined;
  /** @type {unknown} */
  let envelope;
  try {
    envelope = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) return undefined;
  const { t, ts } = /** @type {{ t?: unknown, ts?: unknown }} */ (envelope);
  const typeFits = kind === 'msg' ? t === 'msg' || t === 'del' : t === 'react';
  if (!typeFits || typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) return undefined;
  return ts;
}

/**
 * Which topics to delete. Pure, so the policy is tested without a broker.
 * 1. Messages whose `ts` is older than `now - maxAgeDays` go.
 * 2. With `maxPerRoom`, each room's remaining dated messages are ordered by (`ts`, topic) and the oldest
 *    beyond the cap go.
 * 3. Reactions go with their message; reactions whose message is already gone go once they are old.
 * 4. A page marker goes when its page holds no message any more, unless it is the room's newest page
 *    (senders are still filling it, or about to).
 * Messages without a readable `ts` are never deleted, but still count as present for rules 3 and 4.
 * @param {Iterable<RoomRecord>} records
 * @param {Pick<RetentionPolicy, 'maxAgeDays' | 'maxPerRoom'>} policy
 * @param {number} now epoch ms
 * @returns {string[]} topics to delete
 */
export function planRetentionSweep(records, policy, now) {
  const cutoff = policy.maxAgeDays > 0 ? now - policy.maxAgeDays * DAY_MS : -Infinity;
  const all = [...records];
  const messages = all.filter((record) => record.kind === 'msg');
  const doomed = new Set(messagesToDelete(messages, policy, cutoff));

  const remaining = new Set(messages.filter((m) => !doomed.has(m.topic)).map(messageKey));
  const removed = new Set(messages.filter((m) => doomed.has(m.topic)).map(messageKey));
  for (const reaction of all.filter((record) => record.kind === 'react')) {
    const key = messageKey(reaction);
    const orphanAged = !remaining.has(key) && reaction.ts !== undefined && reaction.ts < cutoff;
    if (removed.has(key) || orphanAged) doomed.add(reaction.topic);
  }

  /** @type {Map<string, number>} */
  const newestPage = new Map();
  for (const record of all)
    newestPage.set(record.room, Math.max(newestPage.get(record.room) ?? 0, record.page));
  const pagesInUse = new Set(messages.filter((m) => !doomed.has(m.topic)).map(pageKey));
  for (const marker of all.filter((record) => record.kind === 'page')) {
    const empty = !pagesInUse.has(pageKey(marker));
    if (empty && marker.page < (newestPage.get(marker.room) ?? 0)) doomed.add(marker.topic);
  }
  return [...doomed];
}

/**
 * @param {RoomRecord[]} messages
 * @param {Pick<RetentionPolicy, 'maxPerRoom'>} policy
 * @param {number} cutoff
 * @returns {string[]}
 */
function messagesToDelete(messages, policy, cutoff) {
  /** @type {string[]} */
  const expired = [];
  /** @type {Map<string, Array<RoomRecord & { ts: number }>>} */
  const rooms = new Map();
  for (const message of messages) {
    if (message.ts === undefined) continue;
    if (message.ts < cutoff) {
      expired.push(message.topic);
    } else if (policy.maxPerRoom > 0) {
      const room = rooms.get(message.room) ?? [];
      room.push({ ...message, ts: message.ts });
      rooms.set(message.room, room);
    }
  }
  for (const room of rooms.values()) {
    if (room.length <= policy.maxPerRoom) continue;
    room.sort((a, b) => a.ts - b.ts || (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    for (const message of room.slice(0, room.length - policy.maxPerRoom)) expired.push(message.topic);
  }
  return expired;
}

// Keys joined with NUL, which MQTT topics cannot contain [MQTT-4.7.3-2], so no two records collide.

/** @param {Pick<RoomRecord, 'room' | 'page'>} record */
function pageKey(record) {
  return `${record.room}\u0000${record.page}`;
}

/** @param {Pick<RoomRecord, 'room' | 'page' | 'id'>} record */
function messageKey(record) {
  return `${pageKey(record)}\u0000${record.id ?? ''}`;
}

/**
 * The part of an aedes persistence the sweep uses. aedes does not type `aedes.persistence`.
 * @typedef {object} RetainedStore
 * @property {(pattern: string) => AsyncIterable<{ topic: string, payload: Buffer }>} createRetainedStream
 * @property {(packet: { cmd: 'publish', topic: string, payload: Buffer, qos: 0, retain: true, dup: false }) => Promise<void>} storeRetained
 */

/**
 * The persistence of a started aedes instance.
 * @param {import('aedes').Aedes} aedes
 * @returns {RetainedStore}
 */
export function retainedStore(aedes) {
  const store = /** @type {{ persistence?: RetainedStore }} */ (/** @type {unknown} */ (aedes)).persistence;
  if (!store) throw new Error('aedes has no persistence; was it started with Aedes.createBroker()?');
  return store;
}

/**
 * Retained topics matching an MQTT filter, straight from persistence (used by tests and operators).
 * @param {import('aedes').Aedes} aedes
 * @param {string} filter
 * @returns {Promise<string[]>}
 */
export async function listRetainedTopics(aedes, filter) {
  /** @type {string[]} */
  const topics = [];
  for await (const packet of retainedStore(aedes).createRetainedStream(filter)) topics.push(packet.topic);
  return topics;
}

/**
 * @typedef {object} SweepResult
 * @property {number} scanned room messages, reactions and page markers looked at
 * @property {number} deleted retained topics removed
 */

/**
 * Runs one sweep against the broker's persistence.
 * @param {import('aedes').Aedes} aedes
 * @param {RetentionPolicy} policy
 * @param {(topic: string) => void} [onDelete] told of each deleted topic (authenticated mode's index)
 * @returns {Promise<SweepResult>}
 */
export async function sweepRetained(aedes, policy, onDelete) {
  const store = retainedStore(aedes);
  // Collected first (topics and dates only, not payloads): deleting while a persistence iterator is open
  // is not safe for every backend.
  /** @type {RoomRecord[]} */
  const records = [];
  for await (const packet of store.createRetainedStream(roomFilter(policy.prefix))) {
    const parsed = parseRoomTopic(packet.topic, policy.prefix);
    if (!parsed) continue;
    const ts = parsed.kind === 'page' ? undefined : readEnvelopeTs(packet.payload, parsed.kind);
    records.push(ts === undefined ? parsed : { ...parsed, ts });
  }
  const doomed = planRetentionSweep(records, policy, policy.now());
  for (const topic of doomed) {
    await store.storeRetained({
      cmd: 'publish',
      topic,
      payload: Buffer.alloc(0),
      qos: 0,
      retain: true,
      dup: false,
    });
    onDelete?.(topic);
  }
  return { scanned: records.length, deleted: doomed.length };
}

/**
 * Fills in defaults and validates a retention option.
 * @param {RetentionOptions | false | undefined} options
 * @returns {RetentionPolicy | undefined} undefined when retention is turned off
 */
export function resolveRetention(options) {
  if (options === false) return undefined;
  const policy = { ...RETENTION_DEFAULTS, ...withoutUndefined(options ?? {}) };
  assertNonNegative('retention.maxAgeDays', policy.maxAgeDays);
  assertNonNegative('retention.maxPerRoom', policy.maxPerRoom);
  if (!Number.isInteger(policy.maxPerRoom)) throw new OptionError('retention.maxPerRoom must be an integer');
  if (!(policy.intervalMs > 0)) throw new OptionError('retention.intervalMs must be > 0');
  if (!PREFIX_PATTERN.test(policy.prefix)) {
    throw new OptionError(
      'retention.prefix must be 1 to 4 levels of [A-Za-z0-9_-], at most 32 characters each',
    );
  }
  if (policy.maxAgeDays === 0 && policy.maxPerRoom === 0) return undefined;
  return policy;
}

/**
 * @param {string} name
 * @param {number} value
 */
function assertNonNegative(name, value) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new OptionError(`${name} must be a number >= 0`);
  }
}

/**
 * @template {object} T
 * @param {T} object
 * @returns {Partial<T>}
 */
function withoutUndefined(object) {
  return /** @type {Partial<T>} */ (
    Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined))
  );
}
