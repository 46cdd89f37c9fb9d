// Retention of mqchat room history.
//
// mqchat keeps room history as retained messages, one topic per message:
//   <prefix>/v1/room/<room>/msg/<YYYYMMDDHH>/<shard>/<id>
// MQTT 3.1.1 has no message expiry, so without help a broker keeps every message forever. The sweep here
// deletes retained messages whose UTC hour bucket has fallen out of the retention window and, optionally,
// the oldest messages of rooms holding more than `maxPerRoom`. Deleting means storing an empty retained
// payload straight into persistence (the same effect as a zero-length retained PUBLISH [MQTT-3.3.1-10])
// without forwarding an empty message to every subscriber of the room.

import { OptionError } from './errors.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Retention policy. Defaults: maxAgeDays 30, maxPerRoom 0 (off), prefix 'mqchat', intervalMs 1 hour,
 * now Date.now.
 * @typedef {object} RetentionOptions
 * @property {number} [maxAgeDays] delete buckets older than this many days; 0 keeps messages forever
 * @property {number} [maxPerRoom] keep at most this many messages per room; 0 = no cap
 * @property {string} [prefix] topic prefix the chat uses
 * @property {number} [intervalMs] time between sweeps after the one at start
 * @property {() => number} [now] clock in epoch milliseconds, injectable for tests
 */

/** @typedef {Required<RetentionOptions>} RetentionPolicy */

/** @type {RetentionPolicy} */
export const RETENTION_DEFAULTS = Object.freeze({
  maxAgeDays: 30,
  maxPerRoom: 0,
  prefix: 'mqchat',
  intervalMs: HOUR_MS,
  now: () => Date.now(),
});

/**
 * @typedef {object} RoomMessageTopic
 * @property {string} topic
 * @property {string} room
 * @property {number} bucketStart epoch ms of the start of the message's UTC hour bucket
 */

/**
 * Subscription filter matching every retained room message under `prefix`.
 * @param {string} prefix
 */
export function roomMessageFilter(prefix) {
  return `${prefix}/v1/room/+/msg/#`;
}

/**
 * Reads a room message topic; anything that does not follow the convention gives `undefined` and is
 * left alone by the sweep.
 * @param {string} topic
 * @param {string} prefix
 * @returns {RoomMessageTopic | undefined}
 */
export function parseRoomMessageTopic(topic, prefix) {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const levels = topic.slice(prefix.length + 1).split('/');
  if (levels.length !== 7) return undefined;
  const [version, kind, room, msg, bucket, shard, id] = levels;
  if (version !== 'v1' || kind !== 'room' || msg !== 'msg' || !room || !id) return undefined;
  if (!shard || !/^[0-9a-f]$/.test(shard)) return undefined;
  const bucketStart = parseHourBucket(bucket ?? '');
  if (bucketStart === undefined) return undefined;
  return { topic, room, bucketStart };
}

/**
 * Start of a `YYYYMMDDHH` UTC hour bucket in epoch ms, or `undefined` if it is not a real hour.
 * @param {string} bucket
 * @returns {number | undefined}
 */
export function parseHourBucket(bucket) {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})$/.exec(bucket);
  if (!match) return undefined;
  const [year, month, day, hour] = match.slice(1).map(Number);
  if (year === undefined || month === undefined || day === undefined || hour === undefined) return undefined;
  const start = Date.UTC(year, month - 1, day, hour);
  // Date.UTC rolls 2025-02-30 over into March; a round trip catches impossible dates.
  const date = new Date(start);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || date.getUTCHours() !== hour) {
    return undefined;
  }
  return start;
}

/**
 * Which topics to delete. Pure, so the policy is tested without a broker. A bucket is expired once its
 * whole hour lies before `now - maxAgeDays`; a bucket overlapping the window is kept.
 * With `maxPerRoom`, the surviving messages of each room are ordered by bucket, then topic (ids are not
 * guaranteed to sort by time, so order within one hour is by topic) and the oldest beyond the cap go.
 * @param {Iterable<RoomMessageTopic>} messages
 * @param {Pick<RetentionPolicy, 'maxAgeDays' | 'maxPerRoom'>} policy
 * @param {number} now epoch ms
 * @returns {string[]} topics to delete
 */
export function planRetentionSweep(messages, policy, now) {
  const cutoff = policy.maxAgeDays > 0 ? now - policy.maxAgeDays * DAY_MS : -Infinity;
  /** @type {string[]} */
  const expired = [];
  /** @type {Map<string, RoomMessageTopic[]>} */
  const rooms = new Map();
  for (const message of messages) {
    if (message.bucketStart + HOUR_MS <= cutoff) {
      expired.push(message.topic);
      continue;
    }
    if (policy.maxPerRoom > 0) {
      const room = rooms.get(message.room) ?? [];
      room.push(message);
      rooms.set(message.room, room);
    }
  }
  for (const room of rooms.values()) {
    if (room.length <= policy.maxPerRoom) continue;
    room.sort(compareOldestFirst);
    for (const message of room.slice(0, room.length - policy.maxPerRoom)) expired.push(message.topic);
  }
  return expired;
}

/**
 * @param {RoomMessageTopic} a
 * @param {RoomMessageTopic} b
 */
function compareOldestFirst(a, b) {
  if (a.bucketStart !== b.bucketStart) return a.bucketStart - b.bucketStart;
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0;
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
 * Retained topics matching an MQTT filter, straight from persistence (used by the sweep and by tests).
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
 * @property {number} scanned room messages looked at
 * @property {number} deleted retained messages removed
 */

/**
 * Runs one sweep against the broker's persistence.
 * @param {import('aedes').Aedes} aedes
 * @param {RetentionPolicy} policy
 * @returns {Promise<SweepResult>}
 */
export async function sweepRetained(aedes, policy) {
  // Topics are collected before deleting: deleting while a persistence iterator is open is not safe for
  // every backend.
  const messages = [];
  for (const topic of await listRetainedTopics(aedes, roomMessageFilter(policy.prefix))) {
    const parsed = parseRoomMessageTopic(topic, policy.prefix);
    if (parsed) messages.push(parsed);
  }
  const doomed = planRetentionSweep(messages, policy, policy.now());
  const store = retainedStore(aedes);
  for (const topic of doomed) {
    await store.storeRetained({
      cmd: 'publish',
      topic,
      payload: Buffer.alloc(0),
      qos: 0,
      retain: true,
      dup: false,
    });
  }
  return { scanned: messages.length, deleted: doomed.length };
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
  if (!policy.prefix || /[#+]/.test(policy.prefix)) throw new OptionError('retention.prefix must be a topic');
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
