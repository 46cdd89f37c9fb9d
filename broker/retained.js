// Retained messages found by following the filter's levels instead of scanning them all.
//
// aedes asks its persistence for the retained messages matching each filter of a SUBSCRIBE, and both
// persistences the broker uses answer by visiting every retained message: aedes-persistence walks its whole
// Map, aedes-persistence-level reads (and msgpack-decodes) the whole `retained:` key range. A room join
// subscribes about ten filters, so with 100,000 messages retained in other rooms one join visited a million
// records. Here a lookup costs about what it returns:
//   memory  a tree of topic levels: a filter walks it level by level ('+' visits the children of one node,
//           '#' one subtree), so it touches the matches plus the nodes on the way down;
//   level   keys are `retained:<topic>` in byte order: an exact topic is one get, and a filter whose levels
//           before the first wildcard form a prefix P reads only the keys under `P/` (plus `P` itself for
//           `P/#`, which matches its parent level).
// Filters that start with a wildcard (`#`, `+/…`) still visit every retained message, and never match a
// topic starting with `$` [MQTT-4.7.2-1] (aedes' scans did not apply that rule to retained messages).

import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

/** @typedef {import('level').Level} Level */

/**
 * A retained PUBLISH as aedes stores it (an aedes Packet); only the fields the broker reads are typed.
 * @typedef {{ topic: string, payload: Buffer, [key: string]: unknown }} StoredPacket
 */

/**
 * Counters of the retained lookups one persistence answered, for tests and operators: each filter is one
 * lookup; `visited` counts retained records (and, in memory, tree nodes) looked at, matching or not.
 * @typedef {{ lookups: number, visited: number }} RetainedLookupStats
 */

const requireHere = createRequire(import.meta.url);
/** The persistence aedes itself would create, from aedes' own dependency tree. */
const aedesPersistence = /** @type {() => AedesPersistence} */ (
  createRequire(import.meta.resolve('aedes'))('aedes-persistence')
);
const levelPersistencePath = requireHere.resolve('aedes-persistence-level');
/** aedes-persistence-level is CommonJS and ships no types. */
const aedesPersistenceLevel = /** @type {(db: Level) => AedesPersistence} */ (
  requireHere(levelPersistencePath)
);
/** The codec aedes-persistence-level stores packets with, from its own dependency tree. */
const msgpack = /** @type {{ decode: (buffer: Buffer) => StoredPacket }} */ (
  createRequire(levelPersistencePath)('msgpack-lite')
);

/**
 * The methods of aedes' callback persistence this module replaces.
 * @typedef {object} AedesPersistence
 * @property {(pattern: string) => Readable} createRetainedStream
 * @property {(patterns: string[]) => Readable} createRetainedStreamCombi
 * @property {(packet: StoredPacket, cb?: (error: Error | null) => void) => Promise<void> | void} storeRetained
 * @property {(packet: StoredPacket) => Promise<void>} writeRetained stores (or clears) a retained message;
 *   storeRetained is this plus renumbering (see `renumber`)
 * @property {{ id: string, counter: number } | undefined} broker the aedes instance, once set up
 * @property {RetainedLookupStats} [retainedLookups]
 */

/** aedes-persistence-level's key prefix for retained messages; ';' is the byte after ':'. */
const RETAINED = 'retained:';
const AFTER_RETAINED = 'retained;';

/**
 * aedes' persistence with indexed retained lookups: in memory without `db`, else level on `db`.
 * @param {Level | undefined} db an open level database
 * @returns {AedesPersistence}
 */
export function createPersistence(db) {
  /** @type {RetainedLookupStats} */
  const stats = { lookups: 0, visited: 0 };
  const persistence = db ? aedesPersistenceLevel(db) : aedesPersistence();
  /** @type {(patterns: string[]) => AsyncIterable<StoredPacket> | Iterable<StoredPacket>} */
  let lookup;
  if (db) {
    const levelStore = persistence.storeRetained.bind(persistence);
    // Without a callback, aedes' callback persistence returns the async persistence's promise.
    persistence.writeRetained = (packet) => /** @type {Promise<void>} */ (levelStore(packet));
    lookup = (patterns) => levelLookup(db, patterns, stats);
  } else {
    // Retained messages live in this tree only; the Map inside aedes-persistence stays empty.
    const tree = new TopicTree();
    persistence.writeRetained = async (packet) => {
      if (packet.payload.length === 0) tree.delete(packet.topic);
      else tree.set(packet.topic, { ...packet });
    };
    lookup = (patterns) => tree.matchAll(patterns, stats);
  }
  persistence.storeRetained = (packet, cb) => {
    const copy = packet.payload.length === 0 ? packet : { ...packet, storedAt: nextStamp() };
    const stored = persistence.writeRetained(copy).then(() => renumber(persistence.broker, packet));
    if (cb) return void stored.then(() => cb(null), cb);
    return stored;
  };
  persistence.createRetainedStream = (pattern) => Readable.from(newestFirst(lookup, [pattern]));
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(newestFirst(lookup, patterns));
  persistence.retainedLookups = stats;
  return persistence;
}

/** Up to this many retained messages of one SUBSCRIBE are sorted newest first; more go out as found. */
export const NEWEST_FIRST_MAX = 5_000;

let lastStamp = 0;
/**
 * When a retained message was stored, in microseconds since the epoch, strictly increasing in this process
 * (and across restarts as far as the clock is). Kept with the message (`storedAt`) in both persistences.
 */
const nextStamp = () => (lastStamp = Math.max(Date.now() * 1000, lastStamp + 1));

/**
 * The retained messages of one SUBSCRIBE, filter by filter in the SUBSCRIBE's order as aedes does, each
 * filter's matches the most recently stored first (messages stored before stamps existed last). MQTT leaves
 * the order open; this one lets a client joining a chat room paint its newest messages while older ones are
 * still on the way, instead of after the whole page (a page's topics are random ids, so the natural orders,
 * by topic or by insertion, put the newest anywhere or last). A filter matching more than NEWEST_FIRST_MAX
 * (a wildcard over everything) is not held in memory to sort: its matches go out in the order found.
 * @param {(patterns: string[]) => Iterable<StoredPacket> | AsyncIterable<StoredPacket>} lookup
 * @param {string[]} patterns
 * @returns {AsyncGenerator<StoredPacket>}
 */
export async function* newestFirst(lookup, patterns) {
  const stamp = (/** @type {StoredPacket} */ packet) => Number(packet.storedAt ?? 0);
  for (const pattern of patterns) {
    /** @type {StoredPacket[] | undefined} */
    let held = [];
    for await (const packet of lookup([pattern])) {
      if (held === undefined) {
        yield packet;
        continue;
      }
      held.push(packet);
      if (held.length > NEWEST_FIRST_MAX) {
        yield* held;
        held = undefined;
      }
    }
    if (held !== undefined) yield* held.sort((a, b) => stamp(b) - stamp(a));
  }
}

/**
 * Gives a retained PUBLISH that has just been stored a new sequence number, right before aedes forwards it.
 *
 * aedes numbers a PUBLISH (`brokerCounter`) when it starts handling it, stores it if retained, and only then
 * forwards it. Each client drops a forwarded PUBLISH whose number is not above the highest it has had from
 * this broker (`dedupe`, meant for overlapping subscriptions). A store takes a while on level, so a message
 * that overtakes it (another client's retained one stored sooner, or any message that is not retained)
 * reaches a client first, and the stored one is then silently dropped for every subscriber that got both:
 * in a reconnect storm, members' presence beats went missing that way. Numbered again after the store, a
 * message is forwarded in number order. (Messages queued for offline persistent sessions are queued after
 * this, so they carry the new number too.)
 * @param {{ id: string, counter: number } | undefined} broker
 * @param {StoredPacket} packet
 */
function renumber(broker, packet) {
  if (broker && packet.brokerId === broker.id) packet.brokerCounter = ++broker.counter;
}

/**
 * The lookup counters of a broker started by startBroker(), or undefined for another persistence.
 * @param {import('aedes').Aedes} aedes
 * @returns {RetainedLookupStats | undefined}
 */
export function retainedLookupStats(aedes) {
  return /** @type {{ persistence?: AedesPersistence }} */ (/** @type {unknown} */ (aedes)).persistence
    ?.retainedLookups;
}

/**
 * @param {string} level
 */
const isWildcard = (level) => level === '+' || level === '#';

/**
 * True when `topic` matches the filter split into `filter` levels (MQTT 3.1.1 §4.7): '+' is exactly one
 * level, possibly empty; '#' is the parent level and any number below; a filter that starts with a
 * wildcard does not match `$` topics.
 * @param {string[]} filter
 * @param {string} topic
 */
export function topicMatches(filter, topic) {
  if (isWildcard(filter[0] ?? '') && topic.startsWith('$')) return false;
  const levels = topic.split('/');
  for (let i = 0; i < filter.length; i++) {
    const want = filter[i];
    if (want === '#') return true;
    if (i >= levels.length || (want !== '+' && want !== levels[i])) return false;
  }
  return levels.length === filter.length;
}

// ---- memory --------------------------------------------------------------------------------------

/** One topic level; `packet` is the retained message of the topic ending here, if any. */
class TopicNode {
  /** @type {StoredPacket | undefined} */
  packet = undefined;
  /** @type {Map<string, TopicNode> | undefined} created on the first child, so leaves stay small */
  children = undefined;
}

/** Retained messages by topic level. */
export class TopicTree {
  #root = new TopicNode();

  /**
   * @param {string} topic
   * @param {StoredPacket} packet
   */
  set(topic, packet) {
    let node = this.#root;
    for (const level of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = new TopicNode();
        node.children.set(level, child);
      }
      node = child;
    }
    node.packet = packet;
  }

  /**
   * Removes the topic's message and the nodes left with nothing below them.
   * @param {string} topic
   */
  delete(topic) {
    /** @type {[TopicNode, string][]} */
    const path = [];
    let node = this.#root;
    for (const level of topic.split('/')) {
      const child = node.children?.get(level);
      if (!child) return;
      path.push([node, level]);
      node = child;
    }
    node.packet = undefined;
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = /** @type {[TopicNode, string]} */ (path[i]);
      const child = /** @type {TopicNode} */ (parent.children?.get(level));
      if (child.packet !== undefined || (child.children?.size ?? 0) > 0) break;
      parent.children?.delete(level);
      if (parent.children?.size === 0) parent.children = undefined;
    }
  }

  /**
   * Every retained message matching each filter in turn (a topic matching two filters comes twice, as
   * from aedes' own persistences).
   * @param {string[]} filters
   * @param {RetainedLookupStats} stats
   * @returns {Generator<StoredPacket>}
   */
  *matchAll(filters, stats) {
    for (const filter of filters) {
      stats.lookups += 1;
      yield* this.#match(this.#root, filter.split('/'), 0, stats);
    }
  }

  /**
   * @param {TopicNode} node
   * @param {string[]} filter
   * @param {number} depth levels of `filter` matched so far
   * @param {RetainedLookupStats} stats
   * @returns {Generator<StoredPacket>}
   */
  *#match(node, filter, depth, stats) {
    stats.visited += 1;
    if (depth === filter.length) {
      if (node.packet !== undefined) yield node.packet;
      return;
    }
    const want = /** @type {string} */ (filter[depth]);
    if (want === '#') {
      // 'a/#' matches 'a' itself [MQTT-4.7.1-2]; at the top there is no such parent.
      if (depth > 0 && node.packet !== undefined) yield node.packet;
      yield* this.#subtree(node, depth === 0, stats);
      return;
    }
    if (want === '+') {
      for (const [level, child] of node.children ?? []) {
        if (depth === 0 && level.startsWith('$')) continue;
        yield* this.#match(child, filter, depth + 1, stats);
      }
      return;
    }
    const child = node.children?.get(want);
    if (child) yield* this.#match(child, filter, depth + 1, stats);
  }

  /**
   * Every message strictly below `node`, depth first, without recursion (topics may be 100 levels deep).
   * @param {TopicNode} node
   * @param {boolean} atTop skip `$` topics: a filter starting with '#' must not match them
   * @param {RetainedLookupStats} stats
   * @returns {Generator<StoredPacket>}
   */
  *#subtree(node, atTop, stats) {
    /** @type {Iterator<[string, TopicNode]>[]} */
    const stack = node.children ? [node.children.entries()] : [];
    while (stack.length > 0) {
      const next = /** @type {Iterator<[string, TopicNode]>} */ (stack.at(-1)).next();
      if (next.done) {
        stack.pop();
        continue;
      }
      const [level, child] = next.value;
      if (atTop && stack.length === 1 && level.startsWith('$')) continue;
      stats.visited += 1;
      if (child.packet !== undefined) yield child.packet;
      if (child.children) stack.push(child.children.entries());
    }
  }
}

// ---- level ---------------------------------------------------------------------------------------

const BUFFER = /** @type {const} */ ({ valueEncoding: 'buffer' });

/**
 * @param {Level} db
 * @param {string[]} filters
 * @param {RetainedLookupStats} stats
 * @returns {AsyncGenerator<StoredPacket>}
 */
async function* levelLookup(db, filters, stats) {
  for (const filter of filters) {
    stats.lookups += 1;
    yield* levelMatch(db, filter, stats);
  }
}

/**
 * @param {Level} db
 * @param {string} topic
 * @param {RetainedLookupStats} stats
 * @returns {Promise<StoredPacket | undefined>}
 */
async function levelGet(db, topic, stats) {
  stats.visited += 1;
  const blob = /** @type {Buffer | undefined} */ (
    /** @type {unknown} */ (await db.get(RETAINED + topic, BUFFER))
  );
  return blob === undefined ? undefined : msgpack.decode(blob);
}

/**
 * @param {Level} db
 * @param {string} filter
 * @param {RetainedLookupStats} stats
 * @returns {AsyncGenerator<StoredPacket>}
 */
async function* levelMatch(db, filter, stats) {
  const levels = filter.split('/');
  const first = levels.findIndex(isWildcard);
  if (first === -1) {
    const packet = await levelGet(db, filter, stats);
    if (packet) yield packet;
    return;
  }
  const prefix = levels.slice(0, first).join('/');
  if (first > 0 && levels[first] === '#') {
    const parent = await levelGet(db, prefix, stats);
    if (parent) yield parent;
  }
  // Keys compare as UTF-8 bytes; '0' is the byte after '/', so this range is exactly the topics under
  // `prefix/`, whatever characters follow.
  const range =
    first === 0
      ? { gte: RETAINED, lt: AFTER_RETAINED }
      : { gte: `${RETAINED}${prefix}/`, lt: `${RETAINED}${prefix}0` };
  for await (const [key, value] of db.iterator({ ...range, ...BUFFER })) {
    stats.visited += 1;
    if (topicMatches(levels, key.slice(RETAINED.length))) {
      yield msgpack.decode(/** @type {Buffer} */ (/** @type {unknown} */ (value)));
    }
  }
}
