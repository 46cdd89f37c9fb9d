import {
  encodeEnvelope,
  FUTURE_SKEW_MS,
  parseEnvelope,
  Rejections,
  TEXT_MAX_LENGTH,
  verifyEnvelope,
  type Envelope,
  type RejectReason,
} from '../protocol/envelope.ts';
import { clampTimestamp, HISTORY_WINDOW } from '../protocol/history.ts';
import { loginCredentials } from '../protocol/auth.ts';
import { classicPayload, classicTopics, classicUser, parseClassic } from '../protocol/classic.ts';
import type { DhKeyPair } from '../protocol/dh.ts';
import { makeMessageId, randomBytes, toHexId } from '../protocol/ids.ts';
import type { Identity } from '../protocol/keys.ts';
import {
  makeDelete,
  makeGone,
  makeHere,
  makeMessage,
  makePageMarker,
  makeReaction,
  makeRoomEntry,
  makeSync,
  makeTyping,
  HISTORY_EXPIRY_S,
  type Outgoing,
} from '../protocol/messages.ts';
import { cleanName, cleanText } from '../protocol/names.ts';
import { LIKE, REACTIONS } from '../protocol/reactions.ts';
import { parseTopic, topics, type Topic, type Topics } from '../protocol/topics.ts';
import { byTimeline, type Store, type StoredMessage } from '../storage/store.ts';
import {
  Emitter,
  type IncomingMessage,
  type Session,
  type Transport,
  type TransportFactory,
} from '../transport/transport.ts';
import { heartbeatSeconds, RoomPresence, type Member } from './presence.ts';
import { Reactions } from './reactions.ts';
import { MessageCache } from './message-cache.ts';
import { DirectMessages } from './direct-messages.ts';
import type { ChatEvents, KeyStatus, RoomEntry, SendError } from './events.ts';
import { RateBudget } from './rate-budget.ts';
import { bindsTo, dmPeer, dmRoom, toEnvelope, toStored, toTombstone, version } from './records.ts';
import { RoomPages } from './room-pages.ts';
import { SeqTracker } from './sync.ts';

export interface ChatClientOptions {
  transport: TransportFactory;
  url: string;
  store: Store;
  identity: Identity;
  name: string;
  prefix?: string;
  username?: string;
  password?: string;
  /** Sign in with key-bound credentials on authenticated brokers (rules AUTH-1..AUTH-4). */
  login?: boolean;
  now?: () => number;
  random?: (length: number) => Uint8Array;
  /** How long to wait for a room's retained head marker after subscribing (ms, default 250). */
  headWaitMs?: number;
  /** Delay before a batch of received messages is stored and emitted (ms, default 0). */
  flushMs?: number;
  /** This device's DM key pair (rule DM-1); without it DMs are off. */
  dh?: DhKeyPair;
  /** Live messages a sender may show per second, and its burst (rule FLOOD-1); default 20 and 100. */
  rate?: { perSecond: number; burst: number };
  /** Overrides the presence heartbeat (seconds), for tests with short clocks. */
  heartbeatSeconds?: (members: number) => number;
}

export type { ChatEvents, KeyStatus, RoomEntry, SendError } from './events.ts';

export { dmPeer, dmRoom };

const MUTED = 'muted-users';

interface RoomState {
  pages: RoomPages;
  /**
   * Ids the broker delivered while the join was reading the store; undefined once it has read it. The
   * messages this client holds are looked up in the message cache (`#held`), not kept here.
   */
  arrived: Set<string> | undefined;
  oldest: StoredMessage | undefined;
  presence: RoomPresence;
  typing: Map<string, { name: string; until: number }>;
  beat: ReturnType<typeof setTimeout> | undefined;
  lastTyping: number;
  /** My next sequence number in this room (rule SYNC-1). */
  nextSeq: number;
  seqs: SeqTracker;
  /**
   * Message id by author and sequence number, to answer sync requests (rule SYNC-3). An author's seqs
   * count up from 1, so an array indexed by seq holds them without a hash entry per message (a sparse
   * one, from a peer skipping ahead, is kept by V8 as a dictionary).
   */
  bySeq: Map<string, (string | undefined)[]>;
  /**
   * Ids this client may re-deliver in answer to a sync request (rule SYNC-3), with when the broker
   * last delivered each since: a pending answer is cancelled by a delivery after the request.
   */
  answering: Map<string, { delivered: number; pending: number }>;
  syncTimer: ReturnType<typeof setTimeout> | undefined;
  requested: Map<string, number>;
  /** A head marker arrived: the join stops waiting for it, even when it names page 0. */
  headSeen: boolean;
  /** Called once when the head marker arrives, by a join waiting for it. */
  onHead: (() => void) | undefined;
  /**
   * True until the join's head wait is over: markers seen meanwhile only move the head, and the join
   * subscribes one window at the end, instead of one window per marker of a burst (rule HIST-6).
   */
  joining: boolean;
  /** Messages of this room received so far, to tell when a burst of history is over. */
  arrivals: number;
}

const SYNC_WAIT_MS = 2000;
const SYNC_RETRY_MS = 30_000;

const TYPING_SHOW_MS = 6000;
const TYPING_EVERY_MS = 3000;

/**
 * Received messages stored and shown together at most; a burst of history comes in such batches. Each
 * batch shown is a render, and while the page renders it reads no messages: on Mosquitto, which replays
 * a page oldest first, the newest message of a join came after two renders of 100 older ones. With 500,
 * the first batch (below) shows at once and the rest of the newest pages in one go: Mosquitto joins went
 * from 382–1,258 to 388–589 ms after "online" (8 runs each, taking turns, 1,000-message room); the
 * bundled broker, which replays newest first, stayed where it was (140–271 ms before, 158–305 after).
 */
const FLUSH_BATCH = 500;
/** The first batch after a join is smaller: about a screenful, shown as soon as it is there. */
const FIRST_BATCH = 40;
/** A join's older pages are subscribed once the newest pages' messages pause this long (HIST-6)... */
const BURST_QUIET_MS = 25;
/** ...or after this long, whatever happens. */
const BURST_MAX_MS = 500;

/**
 * What to store when `incoming` arrives for a message stored as `stored`: the new version, or
 * undefined when the stored one stays. Our own echo turns a pending message into a sent one; older
 * versions never win (rule EDIT-1), nor other authors (rule EDIT-3).
 */
const winner = (stored: StoredMessage, incoming: StoredMessage): StoredMessage | undefined => {
  if (stored.sig === incoming.sig) return stored.state === 'sent' ? undefined : { ...stored, state: 'sent' };
  if (stored.from !== incoming.from || version(stored) >= version(incoming)) return undefined;
  const keep = incoming.deleted ? { name: stored.name, ts: stored.ts } : {};
  return { ...incoming, ...keep, sortTs: stored.sortTs };
};

/**
 * The chat client: joins rooms, sends and receives signed messages, reactions and presence, keeps
 * the store in step, and reports everything as typed events. No DOM, no Svelte, no MQTT library: a
 * transport and a store are passed in, so the same code runs in the browser, in Node and against the
 * in-memory twins.
 */
export class ChatClient {
  readonly identity: Identity;
  readonly topics: Topics;
  readonly transport: Transport;
  readonly rejections = new Rejections();
  readonly reactions = new Reactions();
  /** Latest display name seen per user id. */
  readonly names = new Map<string, string>();
  readonly directory = new Map<string, RoomEntry>();
  /** Users whose messages this client hides, by user id; kept in the store (rule FLOOD-2). */
  readonly muted = new Set<string>();
  readonly #budget: RateBudget;
  readonly #dms: DirectMessages;
  /**
   * The id of the current (or next) MQTT connection, carried by presence and the Last Will; a new one
   * for every connection (rules PRES-1, PRES-3).
   */
  #conn: string;
  name: string;
  readonly #options: ChatClientOptions;
  readonly #events = new Emitter<ChatEvents>();
  readonly #rooms = new Map<string, RoomState>();
  readonly #inflight = new Set<string>();
  readonly #watched = new Set<string>();
  /** Rooms bridged to the classic paho chat (rule CLASSIC-1). */
  readonly #classic = new Set<string>();
  /** The store, with the latest version of every message seen this session in memory. */
  readonly #store: MessageCache;
  #batch = new Map<string, StoredMessage>();
  /** A room was just joined: its newest messages come in a small batch of their own. */
  #firstBatch = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Flushes run one after another, so each one's version checks see the previous one's result. */
  #flushing: Promise<void> = Promise.resolve();
  /** Writes of received messages not yet committed. */
  readonly #writes = new Set<Promise<void>>();
  /** Batches flushed and not absorbed yet: their messages are in neither `#batch` nor the cache. */
  readonly #absorbing = new Set<Map<string, StoredMessage>>();
  readonly #now: () => number;
  readonly #random: (length: number) => Uint8Array;

  constructor(options: ChatClientOptions) {
    this.#options = options;
    this.#store = new MessageCache(options.store);
    this.identity = options.identity;
    this.name = cleanName(options.name);
    this.topics = topics(options.prefix);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? randomBytes;
    this.#conn = toHexId(this.#random(6));
    this.#budget = new RateBudget(options.rate ?? { perSecond: 20, burst: 100 }, this.#now);
    this.transport = options.transport({
      url: options.url,
      clientId: `mqchat-${this.#conn}`,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
      session: () => this.#session(),
    });
    this.transport.on('status', (change) => {
      this.#events.emit('status', change);
      if (change.status === 'online') this.#online();
    });
    this.transport.on('message', (message) => this.#background(this.#receive(message)));
    this.#dms = new DirectMessages({
      topics: this.topics,
      identity: this.identity,
      store: this.#store,
      transport: this.transport,
      events: this.#events,
      dh: options.dh,
      names: this.names,
      name: () => this.name,
      now: this.#now,
      random: this.#random,
      publish: (outgoing) => this.#publish(outgoing),
      settle: (message, state) => this.#settle(message, state),
      queue: (message) => this.#queue(message),
      reject: (reason, topic) => this.#reject(reason, topic),
    });
  }

  on<K extends keyof ChatEvents>(event: K, handler: ChatEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Work nobody awaits must not become an unhandled rejection: a failure there is retried later. */
  #background(work: Promise<unknown>): void {
    work.catch(() => undefined);
  }

  /** The id of the current (or next) connection (rules PRES-1, PRES-3). */
  get conn(): string {
    return this.#conn;
  }

  /**
   * What the next connection presents, made before every connect and reconnect: a new connection id,
   * its client id (random per connection, so two tabs never take each other's session over, rule
   * CONN-4), its signed Last Will (rule PRES-3) and, on authenticated brokers, a login signed for that
   * client id (rule AUTH-4). The transport uses only its latest call, so the conn set here is the one
   * that goes online; a `gone` left by an earlier connection can never match it.
   */
  async #session(): Promise<Session> {
    const conn = toHexId(this.#random(6));
    this.#conn = conn;
    const clientId = `mqchat-${conn}`;
    const now = this.#now();
    const [gone, login] = await Promise.all([
      makeGone(this.topics, this.identity, conn, now),
      this.#options.login === true ? loginCredentials(this.identity, clientId, now) : undefined,
    ]);
    return {
      clientId,
      will: { topic: gone.topic, payload: gone.payload, qos: 1, retain: true },
      ...login,
    };
  }

  /** Connects (each connection with its own signed Last Will) and subscribes to the room directory. */
  async start(): Promise<void> {
    for (const user of (await this.#store.getSetting<string[]>(MUTED)) ?? []) this.muted.add(user);
    this.transport.connect();
    const dms = await this.#dms.start();
    await this.transport.subscribe([this.topics.directoryAll(), ...dms]);
  }

  get rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  members(room: string): Member[] {
    return this.#rooms.get(room)?.presence.members() ?? [];
  }

  #online(): void {
    this.#background(this.#flushOutbox());
    this.#background(this.#dms.announceKey());
    for (const room of this.#rooms.keys()) this.#background(this.#beat(room));
  }

  // ---- rooms -------------------------------------------------------------------------------

  /** Joins a room: stored history at once, then the newest pages and presence (rules HIST-6, PRES-1). */
  async join(room: string): Promise<StoredMessage[]> {
    if (this.#rooms.has(room)) return this.#store.getMessages(room, { limit: HISTORY_WINDOW });
    const state: RoomState = {
      pages: new RoomPages(),
      arrived: new Set(),
      oldest: undefined,
      presence: new RoomPresence(),
      typing: new Map(),
      beat: undefined,
      lastTyping: 0,
      nextSeq: 1,
      seqs: new SeqTracker(),
      bySeq: new Map(),
      answering: new Map(),
      syncTimer: undefined,
      requested: new Map(),
      headSeen: false,
      onHead: undefined,
      joining: true,
      arrivals: 0,
    };
    this.#rooms.set(room, state);
    this.#firstBatch = true;
    // The broker is asked while the store is read: on a first visit, opening IndexedDB takes a while.
    const fetched = this.#fetch(room, state);
    // Awaited below; until then a failure must not count as unhandled.
    fetched.catch(() => undefined);
    const [seq, stored] = await Promise.all([
      this.#store.getSetting<number>(`seq:${room}`),
      this.#store.getMessages(room, { limit: HISTORY_WINDOW }),
    ]);
    state.nextSeq = Math.max(state.nextSeq, (seq ?? 0) + 1);
    // Messages the broker delivered meanwhile are already on their way, in their newest version.
    const arrived = state.arrived ?? new Set<string>();
    state.arrived = undefined;
    const fresh = stored.filter((message) => !arrived.has(message.id));
    for (const message of fresh) this.#remember(state, message);
    if (fresh[0] !== undefined && (!state.oldest || byTimeline(fresh[0], state.oldest) < 0))
      state.oldest = fresh[0];
    if (fresh.length > 0) this.#events.emit('messages', room, fresh);
    await fetched;
    return stored;
  }

  /** The join's subscriptions: markers and presence, then the history window (rule HIST-6). */
  async #fetch(room: string, state: RoomState): Promise<void> {
    const t = this.topics;
    await this.transport.subscribe([t.head(room), t.present(room), t.typists(room), t.sync(room)]);
    // The retained head marker normally follows the SUBACK at once; a room without one starts at 0.
    await this.#waitForHead(state);
    state.joining = false;
    // Page markers (one per 200 messages) come with the older pages: the newest messages go first.
    await Promise.all([this.#subscribeWindow(room, state, [t.pages(room)]), this.#beat(room)]);
  }

  #remember(state: RoomState, message: StoredMessage): void {
    state.pages.add(message.page, message.id);
    if (!message.classic) this.names.set(message.from, message.name);
    if (message.seq !== undefined) {
      state.seqs.see(message.from, message.seq);
      let ids = state.bySeq.get(message.from);
      if (ids === undefined) state.bySeq.set(message.from, (ids = []));
      ids[message.seq] = message.id;
      if (message.from === this.identity.userId) state.nextSeq = Math.max(state.nextSeq, message.seq + 1);
    }
  }

  /**
   * The newest version of a room's message this client holds: received and not stored yet, else in
   * the message cache (everything this session stored or read). An id of another room does not count.
   */
  #held(room: string, id: string): StoredMessage | undefined {
    let held = this.#batch.get(id);
    for (const batch of this.#absorbing) held ??= batch.get(id);
    held ??= this.#store.known(id);
    return held?.room === room ? held : undefined;
  }

  #waitForHead(state: RoomState): Promise<void> {
    // Busy brokers can take a while; waiting beats fetching pages around a wrong guess (rule HIST-6).
    const wait = this.#options.headWaitMs ?? 1000;
    if (state.headSeen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        state.onHead = undefined;
        resolve();
      };
      const timer = setTimeout(done, wait);
      state.onHead = done;
    });
  }

  #pageFilters(room: string, pages: number[]): string[] {
    return pages.flatMap((page) => [
      this.topics.pageMessages(room, page),
      this.topics.pageReactions(room, page),
    ]);
  }

  /** Subscribes the pages of the window not subscribed yet, and `later` with the older ones. */
  async #subscribeWindow(room: string, state: RoomState, later: string[] = []): Promise<void> {
    const pages = state.pages.windowPages().filter((page) => !state.pages.fetched.has(page));
    for (const page of pages) state.pages.fetched.add(page);
    // The newest pages first, on their own, and the older ones once their burst is over: brokers
    // interleave the retained messages of concurrent subscriptions, and the newest message should not
    // wait for six hundred older ones (HIST-6).
    const newest = pages.slice(0, 2);
    const older = pages.slice(2);
    const before = state.arrivals;
    if (newest.length > 0) await this.transport.subscribe(this.#pageFilters(room, newest));
    const rest = [...this.#pageFilters(room, older), ...later];
    if (rest.length === 0) return;
    if (older.length > 0) await this.#burstOver(state, before);
    await this.transport.subscribe(rest);
  }

  /**
   * Resolves when the room's messages stop pouring in: none arrived for BURST_QUIET_MS since more
   * than `before` had, or after BURST_MAX_MS whatever happens (an empty page sends nothing).
   */
  #burstOver(state: RoomState, before: number): Promise<void> {
    return new Promise((resolve) => {
      let seen = before;
      let waited = 0;
      const check = () => {
        waited += BURST_QUIET_MS;
        if ((state.arrivals > before && state.arrivals === seen) || waited >= BURST_MAX_MS) return resolve();
        seen = state.arrivals;
        setTimeout(check, BURST_QUIET_MS);
      };
      setTimeout(check, BURST_QUIET_MS);
    });
  }

  /** Leaves a room: says so to the others (rule PRES-1) and drops its subscriptions. */
  async leave(room: string): Promise<void> {
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    clearTimeout(state.beat);
    await this.#announce(room, false).catch(() => undefined);
    await this.setClassic(room, false);
    this.#rooms.delete(room);
    this.#store.forget(room);
    const t = this.topics;
    await this.transport.unsubscribe([
      t.head(room),
      t.pages(room),
      t.present(room),
      t.typists(room),
      t.sync(room),
      ...this.#pageFilters(room, [...state.pages.fetched]),
    ]);
  }

  /** Publishes a directory entry so others discover the room (rule ROOM-3). */
  async createRoom(room: string, title: string, desc = ''): Promise<void> {
    const entry = await makeRoomEntry(this.topics, this.identity, room, {
      title: cleanName(title) || room,
      desc: cleanText(desc).trim().slice(0, 280),
      ts: this.#now(),
    });
    await this.#publish(entry);
  }

  /**
   * Older history for the timeline: first from the store, then older pages from the broker.
   * Resolves with the messages found in the store; broker pages arrive as `messages` events.
   */
  async loadOlder(room: string, limit = 100): Promise<StoredMessage[]> {
    const state = this.#rooms.get(room);
    if (state === undefined) return [];
    const before = state.oldest;
    const older = await this.#store.getMessages(room, {
      limit,
      ...(before !== undefined && { before: { sortTs: before.sortTs, id: before.id } }),
    });
    if (older.length > 0) {
      state.oldest = older[0];
      for (const message of older) this.#remember(state, message);
      this.#events.emit('messages', room, older);
    }
    if (older.length < limit) await this.#fetchOlderPages(room, state);
    return older;
  }

  async #fetchOlderPages(room: string, state: RoomState): Promise<void> {
    const pages = state.pages.olderPages(2);
    for (const page of pages) state.pages.fetched.add(page);
    if (pages.length > 0) await this.transport.subscribe(this.#pageFilters(room, pages));
  }

  /** Finds a message for a reply quote: the store, else older pages from the broker (rule REPLY-2). */
  async findMessage(room: string, id: string): Promise<StoredMessage | undefined> {
    const stored = await this.#store.getMessage(id);
    if (stored !== undefined) return stored;
    const state = this.#rooms.get(room);
    if (state !== undefined) await this.#fetchOlderPages(room, state);
    return undefined;
  }

  // ---- messages ----------------------------------------------------------------------------

  /** Sends a message: shown at once as pending, kept in the outbox, then published (rules MSG-1, OUT-1). */
  async send(
    room: string,
    input: string,
    options: { reply?: string } = {},
  ): Promise<StoredMessage | SendError> {
    const state = this.#rooms.get(room);
    if (state === undefined) return 'not-joined';
    const text = cleanText(input).trim();
    if (text.length === 0) return 'empty';
    if (text.length > TEXT_MAX_LENGTH) return 'too-long';
    const page = state.pages.nextPage();
    const opensPage = !state.pages.known.has(page);
    const id = makeMessageId(this.#random);
    const ts = this.#now();
    // Count the message in its page before signing (async), so concurrent sends see it (rule HIST-2).
    state.pages.add(page, id);
    const seq = state.nextSeq++;
    this.#background(this.#store.putSetting(`seq:${room}`, seq));
    const { envelope } = await makeMessage(this.topics, this.identity, {
      room,
      page,
      id,
      name: this.name,
      ts,
      text,
      seq,
      ...(options.reply !== undefined && { reply: options.reply }),
    });
    const stored = toStored(room, page, envelope, ts, 'pending');
    this.#remember(state, stored);
    // In the outbox before it is published (rule OUT-1): the write is issued first. Online, the publish
    // does not wait the ~10 ms IndexedDB takes to commit it (a tab closed meanwhile has already handed
    // the message to the broker); offline, the outbox is the only copy until the next connection.
    // Published before it is shown, so rendering my own copy does not hold up the publish either.
    const written = this.#store.putMessages([stored]);
    if (this.transport.status === 'online') this.#background(written);
    else await written;
    this.#background(this.#publishStored(stored));
    // The latest version: a reconnect's outbox flush may already have had it acknowledged.
    this.#events.emit('messages', room, [this.#store.known(stored.id) ?? stored]);
    if (this.#classic.has(room)) {
      const classic = classicTopics(room).publish(this.name);
      this.#background(this.transport.publish(classic, classicPayload(text), { qos: 1, retain: false }));
    }
    if (opensPage) this.#background(this.#publishMarkers(room, page));
    if (page > 0) this.#background(this.#subscribeWindow(room, state));
    return stored;
  }

  /** Edits one of my messages: republished on its topic with `edited` set (rule EDIT-1). */
  async edit(id: string, input: string): Promise<StoredMessage | SendError> {
    const message = await this.#store.getMessage(id);
    if (message === undefined || message.deleted) return 'not-found';
    if (message.from !== this.identity.userId) return 'not-yours';
    const text = cleanText(input).trim();
    if (text.length === 0) return 'empty';
    if (text.length > TEXT_MAX_LENGTH) return 'too-long';
    const { envelope } = await makeMessage(this.topics, this.identity, {
      room: message.room,
      page: message.page,
      id,
      name: message.name,
      ts: message.ts,
      text,
      ...(message.reply !== undefined && { reply: message.reply }),
      ...(message.seq !== undefined && { seq: message.seq }),
      edited: Math.max(this.#now(), message.ts + 1),
    });
    const updated: StoredMessage = {
      ...toStored(message.room, message.page, envelope, message.sortTs, 'pending'),
    };
    updated.sortTs = message.sortTs;
    await this.#store.putMessages([updated]);
    this.#events.emit('messages', updated.room, [updated]);
    this.#background(this.#publishStored(updated));
    return updated;
  }

  /** Deletes one of my messages: a signed tombstone replaces it on its topic (rule EDIT-2). */
  async delete(id: string): Promise<StoredMessage | SendError> {
    const message = await this.#store.getMessage(id);
    if (message === undefined) return 'not-found';
    if (message.from !== this.identity.userId) return 'not-yours';
    const tombstone = await makeDelete(
      this.topics,
      this.identity,
      message.room,
      message.page,
      id,
      this.#now(),
    );
    const updated = toTombstone(message, tombstone.envelope);
    await this.#store.putMessages([updated]);
    this.#events.emit('messages', updated.room, [updated]);
    await this.#publish(tombstone).catch(() => undefined);
    return updated;
  }

  async #publishMarkers(room: string, page: number): Promise<void> {
    const ts = this.#now();
    for (const kind of ['page', 'head'] as const) {
      await this.#publish(await makePageMarker(this.topics, this.identity, kind, room, page, ts)).catch(
        () => undefined,
      );
    }
  }

  #publish(outgoing: Outgoing<unknown>): Promise<void> {
    return this.transport.publish(outgoing.topic, outgoing.payload, outgoing);
  }

  /** Publishes (or republishes, with the same id and signature) a stored message (rule OUT-2). */
  async #publishStored(message: StoredMessage): Promise<void> {
    // A DM is never published as a room message: an unacknowledged one becomes 'failed' instead.
    if (dmPeer(message.room) !== undefined) return this.#settle(message, 'failed');
    if (this.#inflight.has(message.sig)) return;
    this.#inflight.add(message.sig);
    const topic = this.topics.message(message.room, message.page, message.id);
    try {
      const flags = { qos: 1, retain: true, expiry: HISTORY_EXPIRY_S } as const;
      await this.transport.publish(topic, encodeEnvelope(toEnvelope(message)), flags);
      await this.#settle(message, 'sent');
    } catch {
      await this.#settle(message, 'failed');
    } finally {
      this.#inflight.delete(message.sig);
    }
  }

  async #settle(message: StoredMessage, state: 'sent' | 'failed'): Promise<void> {
    const current = (await this.#store.getMessage(message.id)) ?? message;
    if (current.sig !== message.sig || current.state === 'sent') return;
    const updated = { ...current, state };
    const written = this.#store.putMessages([updated]);
    this.#events.emit('messages', updated.room, [updated]);
    await written;
  }

  /** Republishes every message still in the outbox, e.g. after a reconnect or a reload. */
  async #flushOutbox(): Promise<void> {
    for (const message of await this.#store.getPending()) this.#background(this.#publishStored(message));
  }

  /** Retries a failed message with its original id and signature. */
  async retry(id: string): Promise<void> {
    const message = await this.#store.getMessage(id);
    if (message === undefined || message.state === 'sent') return;
    const pending = { ...message, state: 'pending' as const };
    await this.#store.putMessages([pending]);
    this.#events.emit('messages', pending.room, [pending]);
    await this.#publishStored(pending);
  }

  /** Gives up on a failed or pending message: removed from the outbox and the timeline. */
  async discard(id: string): Promise<void> {
    const message = await this.#store.getMessage(id);
    if (message === undefined || message.state === 'sent') return;
    const gone = { ...message, state: 'sent' as const, deleted: true, text: '' };
    await this.#store.putMessages([gone]);
    this.#events.emit('messages', gone.room, [gone]);
  }

  // ---- reactions ---------------------------------------------------------------------------

  /** Adds or removes one reaction of mine on a message (rules REACT-1, REACT-2). */
  async toggleReaction(room: string, id: string, reaction: string = LIKE): Promise<void> {
    const state = this.#rooms.get(room);
    const page = this.#held(room, id)?.page;
    if (state === undefined || page === undefined || !REACTIONS.includes(reaction)) return;
    const mine = this.reactions.mine(id, this.identity.userId);
    const next = mine.react.includes(reaction)
      ? mine.react.filter((r) => r !== reaction)
      : [...mine.react, reaction];
    // Strictly newer than my previous set, even if the clock went back (rule REACT-3).
    const ts = Math.max(this.#now(), mine.ts + 1);
    const outgoing = await makeReaction(this.topics, this.identity, { room, page, id }, next, ts);
    if (this.reactions.apply(id, this.identity.userId, { ts, react: next })) {
      this.#events.emit('reactions', room, id, this.reactions.summary(id));
    }
    await this.#publish(outgoing);
  }

  // ---- presence ----------------------------------------------------------------------------

  async #announce(room: string, on: boolean): Promise<void> {
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    const hb = (this.#options.heartbeatSeconds ?? heartbeatSeconds)(state.presence.size);
    const here = await makeHere(this.topics, this.identity, room, {
      name: this.name,
      conn: this.conn,
      hb,
      on,
      ts: this.#now(),
    });
    await this.#publish(here);
  }

  /** Announces presence and schedules the next beat at the room's current interval (rule PRES-2). */
  async #beat(room: string): Promise<void> {
    const state = this.#rooms.get(room);
    if (state === undefined || this.transport.status !== 'online') return;
    clearTimeout(state.beat);
    const hb = (this.#options.heartbeatSeconds ?? heartbeatSeconds)(state.presence.size);
    state.beat = setTimeout(() => this.#background(this.#beat(room)), hb * 1000);
    await this.#announce(room, true).catch(() => undefined);
    this.#expire(room, state);
  }

  #expire(room: string, state: RoomState): void {
    const changes = state.presence.expire(this.#now());
    if (changes.length > 0) this.#events.emit('presence', room, state.presence.members(), changes);
  }

  /** Re-checks every room's online list against the clock (rule PRES-4); the UI calls it now and then. */
  expirePresence(): void {
    for (const [room, state] of this.#rooms) this.#expire(room, state);
  }

  /** Tells the room I am typing, at most every 3 s (rule PRES-6). */
  async typing(room: string): Promise<void> {
    const state = this.#rooms.get(room);
    const now = this.#now();
    if (state === undefined || now - state.lastTyping < TYPING_EVERY_MS) return;
    state.lastTyping = now;
    await this.#publish(await makeTyping(this.topics, this.identity, room, now)).catch(() => undefined);
  }

  /** Sets my display name; announced to every room at once. */
  async rename(name: string): Promise<void> {
    const clean = cleanName(name);
    if (clean.length === 0) return;
    this.name = clean;
    await Promise.all(this.rooms.map((room) => this.#announce(room, true).catch(() => undefined)));
  }

  // ---- gap repair --------------------------------------------------------------------------

  /** After messages arrive, waits a moment (reordering is normal) and then asks for real gaps (rule SYNC-2). */
  #scheduleSyncCheck(room: string, state: RoomState): void {
    state.syncTimer ??= setTimeout(() => {
      state.syncTimer = undefined;
      this.#background(this.#requestSync(room, state));
    }, SYNC_WAIT_MS);
  }

  async #requestSync(room: string, state: RoomState): Promise<void> {
    if (!this.#rooms.has(room) || this.transport.status !== 'online') return;
    const now = this.#now();
    const want = state.seqs
      .gaps()
      .filter(([user, seq]) => now - (state.requested.get(`${user}:${seq}`) ?? -Infinity) > SYNC_RETRY_MS);
    if (want.length === 0) return;
    for (const [user, seq] of want) state.requested.set(`${user}:${seq}`, now);
    await this.#publish(await makeSync(this.topics, this.identity, room, want, now));
  }

  /**
   * Answers a sync request with the original signed envelopes on their own topics (rule SYNC-3): the
   * author at once, other peers after a random delay, and only if nobody re-delivered it meanwhile.
   */
  #answerSync(room: string, state: RoomState, want: [string, number][]): void {
    const asked = this.#now();
    for (const [user, seq] of want) {
      const id = state.bySeq.get(user)?.[seq];
      if (id === undefined) continue;
      const delay = user === this.identity.userId ? 0 : 250 + ((this.#random(1)[0] ?? 0) / 255) * 1500;
      const answer = state.answering.get(id) ?? { delivered: 0, pending: 0 };
      answer.pending += 1;
      state.answering.set(id, answer);
      setTimeout(() => {
        answer.pending -= 1;
        if (answer.pending === 0) state.answering.delete(id);
        if (answer.delivered > asked || !this.#rooms.has(room)) return;
        this.#background(this.#redeliver(id));
      }, delay);
    }
  }

  async #redeliver(id: string): Promise<void> {
    const message = await this.#store.getMessage(id);
    if (message === undefined || message.deleted || message.classic || message.state !== 'sent') return;
    const topic = this.topics.message(message.room, message.page, message.id);
    await this.transport.publish(topic, encodeEnvelope(toEnvelope(message)), {
      qos: 1,
      retain: true,
      expiry: HISTORY_EXPIRY_S,
    });
  }

  // ---- muting ------------------------------------------------------------------------------

  /** Hides a user's messages, reactions and typing from now on, on this device (rule FLOOD-2). */
  async mute(user: string, on = true): Promise<void> {
    if (on) this.muted.add(user);
    else this.muted.delete(user);
    await this.#store.putSetting(MUTED, [...this.muted]);
    this.#events.emit('muted', [...this.muted]);
  }

  // ---- classic bridge ----------------------------------------------------------------------

  /**
   * Bridges a joined room to the origin's paho terminal chat (rules CLASSIC-1..CLASSIC-4): plain
   * text on `chat/<room>/<user>` shows here as unverified, and what I send is copied there.
   */
  async setClassic(room: string, on: boolean): Promise<void> {
    if (!this.#rooms.has(room) || this.#classic.has(room) === on) return;
    const { filter } = classicTopics(room);
    if (on) {
      this.#classic.add(room);
      await this.transport.subscribe([filter]);
    } else {
      this.#classic.delete(room);
      await this.transport.unsubscribe([filter]);
    }
  }

  isClassic(room: string): boolean {
    return this.#classic.has(room);
  }

  #receiveClassic(topic: string, payload: Uint8Array): void {
    const message = parseClassic(topic, payload);
    if (message === undefined) return this.#reject('schema', topic);
    // The origin filters its own messages by the user level of the topic; so do we (rule CLASSIC-3).
    if (!this.#classic.has(message.room) || message.user === classicUser(this.name)) return;
    const now = this.#now();
    this.#queue({
      room: message.room,
      page: 0,
      id: makeMessageId(this.#random),
      from: `classic:${message.user}`,
      name: message.user,
      ts: now,
      sortTs: now,
      text: message.text,
      sig: '',
      state: 'sent',
      classic: true,
    });
  }

  // ---- direct messages ---------------------------------------------------------------------

  /** DM keys by user: the key in use and whether it changed since first seen (rule DM-1). */
  get keys(): ReadonlyMap<string, { dh: string; status: KeyStatus }> {
    return this.#dms.keys;
  }

  /** Opens a DM conversation: its stored history, and a watch on the peer's key (rule DM-1). */
  openDm(peer: string): Promise<StoredMessage[]> {
    return this.#dms.open(peer);
  }

  /** Sends an end-to-end encrypted DM (rules DM-2..DM-5). */
  sendDm(peer: string, input: string): Promise<StoredMessage | SendError> {
    return this.#dms.send(peer, input);
  }

  /** Trusts a user's new DM key after a 'changed' warning. */
  acceptKey(user: string): Promise<void> {
    return this.#dms.acceptKey(user);
  }

  // ---- receiving ---------------------------------------------------------------------------

  #reject(reason: RejectReason, topic: string): void {
    this.rejections.add(reason);
    this.#events.emit('rejected', reason, topic);
  }

  /** One path for every incoming payload (rule ENV-2): parse, check, verify, then apply. */
  async #receive({ topic, payload, retain }: IncomingMessage): Promise<void> {
    if (topic.startsWith('chat/')) return this.#receiveClassic(topic, payload);
    const parsed = parseTopic(this.topics.prefix, topic);
    // Zero-length payloads clear a retained topic; there is nothing to show.
    if (parsed === undefined || payload.length === 0) return;
    if (parsed.kind === 'dm') return this.#dms.receive(topic, parsed.owner, parsed.id, payload);
    const decoded = parseEnvelope(payload);
    if (!decoded.ok) return this.#reject(decoded.reason, topic);
    const envelope = decoded.envelope;
    if (!bindsTo(parsed, envelope)) return this.#reject('topic', topic);
    if (parsed.kind === 'directory' || parsed.kind === 'status') {
      if (await this.#verify(topic, envelope)) this.#applyGlobal(parsed, envelope);
      return;
    }
    if (parsed.kind === 'key') {
      if (envelope.t === 'key' && (await this.#verify(topic, envelope)))
        await this.#dms.applyKey(parsed.user, envelope.dh);
      return;
    }
    const state = this.#rooms.get(parsed.room);
    if (state === undefined) return;
    if (parsed.kind === 'message') {
      const answer = state.answering.get(parsed.id);
      if (answer !== undefined) answer.delivered = this.#now();
      state.arrivals += 1;
      const held = this.#held(parsed.room, parsed.id);
      // The version already held, delivered again (a retained replay): nothing to verify or store.
      if (held?.sig === envelope.sig) return this.#remember(state, held);
    }
    if (this.muted.has(envelope.from) && parsed.kind !== 'here') return;
    if (!(await this.#verify(topic, envelope))) return;
    // Stored history comes in bursts by design; only live messages draw on a sender's budget.
    if (
      !retain &&
      (parsed.kind === 'message' || parsed.kind === 'react') &&
      !this.#budget.take(envelope.from)
    ) {
      return this.#events.emit('rejected', 'flood', topic);
    }
    this.#applyRoom(parsed, envelope, state, topic);
  }

  async #verify(topic: string, envelope: Envelope): Promise<boolean> {
    if (await verifyEnvelope(topic, envelope)) return true;
    this.#reject('signature', topic);
    return false;
  }

  #applyGlobal(parsed: Topic & { kind: 'directory' | 'status' }, envelope: Envelope): void {
    if (parsed.kind === 'directory' && envelope.t === 'room') {
      const known = this.directory.get(parsed.room);
      // The first creator seen keeps the room; a later entry by someone else cannot take it over.
      if (known !== undefined && known.creator !== envelope.from) return;
      if (known !== undefined && known.ts >= envelope.ts) return;
      const { title, desc, from: creator, ts } = envelope;
      this.directory.set(parsed.room, { room: parsed.room, title, desc, creator, ts });
      this.#events.emit('directory', [...this.directory.values()]);
    } else if (parsed.kind === 'status' && envelope.t === 'gone') {
      for (const [room, state] of this.#rooms) {
        const change = state.presence.gone(parsed.user, envelope.conn);
        if (change !== undefined) this.#events.emit('presence', room, state.presence.members(), [change]);
      }
    }
  }

  #applyRoom(parsed: Topic, envelope: Envelope, state: RoomState, topic: string): void {
    const now = this.#now();
    if (parsed.kind === 'message' && (envelope.t === 'msg' || envelope.t === 'del')) {
      const held = this.#held(parsed.room, parsed.id);
      // An id belongs to its first author: a different signer cannot edit or delete it (rule EDIT-3).
      if (held !== undefined && held.from !== envelope.from) return this.#reject('topic', topic);
      state.arrived?.add(parsed.id);
      if (envelope.t === 'msg') {
        const stored = toStored(parsed.room, parsed.page, envelope, now, 'sent');
        this.#remember(state, stored);
        this.#queue(stored);
        if (envelope.seq !== undefined) this.#scheduleSyncCheck(parsed.room, state);
      } else {
        state.pages.add(parsed.page, parsed.id);
        this.#queue(toTombstone(undefined, envelope, parsed.room, parsed.page, now));
      }
    } else if (
      (parsed.kind === 'head' || parsed.kind === 'page') &&
      (envelope.t === 'head' || envelope.t === 'page')
    ) {
      if (envelope.t === 'head') {
        state.headSeen = true;
        state.onHead?.();
      }
      if (state.pages.see(envelope.page) && !state.joining)
        this.#background(this.#subscribeWindow(parsed.room, state));
    } else if (parsed.kind === 'react' && envelope.t === 'react') {
      const ts = clampTimestamp(envelope.ts, now, FUTURE_SKEW_MS);
      if (this.reactions.apply(parsed.id, parsed.user, { ts, react: envelope.react })) {
        this.#events.emit('reactions', parsed.room, parsed.id, this.reactions.summary(parsed.id));
      }
    } else if (parsed.kind === 'here' && envelope.t === 'here') {
      this.#applyHere(parsed.room, state, envelope, now);
    } else if (parsed.kind === 'sync' && envelope.t === 'sync' && envelope.from !== this.identity.userId) {
      this.#answerSync(parsed.room, state, envelope.want);
    } else if (
      parsed.kind === 'typing' &&
      envelope.t === 'typing' &&
      envelope.from !== this.identity.userId
    ) {
      const name = state.presence.members().find((m) => m.user === envelope.from)?.name;
      state.typing.set(envelope.from, {
        name: name ?? this.names.get(envelope.from) ?? '?',
        until: now + TYPING_SHOW_MS,
      });
      this.#emitTyping(parsed.room, state);
    }
  }

  #applyHere(room: string, state: RoomState, envelope: Envelope & { t: 'here' }, now: number): void {
    if (envelope.from === this.identity.userId && envelope.conn === this.conn && !envelope.on) return;
    const ts = clampTimestamp(envelope.ts, now, FUTURE_SKEW_MS);
    const change = state.presence.announce(envelope.from, { ...envelope, ts }, now);
    this.names.set(envelope.from, envelope.name);
    if (envelope.on && !this.#watched.has(envelope.from)) {
      // Watch the member's status topic for its Last Will (rule PRES-3).
      this.#watched.add(envelope.from);
      this.#background(this.transport.subscribe([this.topics.status(envelope.from)]));
    }
    this.#events.emit('presence', room, state.presence.members(), change ? [change] : []);
  }

  #emitTyping(room: string, state: RoomState): void {
    const now = this.#now();
    for (const [user, entry] of state.typing) if (entry.until <= now) state.typing.delete(user);
    this.#events.emit(
      'typing',
      room,
      [...state.typing].map(([user, { name }]) => ({ user, name })),
    );
    if (state.typing.size > 0) setTimeout(() => this.#emitTyping(room, state), TYPING_SHOW_MS);
  }

  /** Batches received messages so a history burst is stored in one transaction and emitted once. */
  #queue(message: StoredMessage): void {
    const queued = this.#batch.get(message.id);
    if (queued !== undefined && version(queued) > version(message)) return;
    this.#batch.set(message.id, message);
    // A browser runs a timer only when the stream of WebSocket events pauses; during a burst of
    // history a full batch is flushed at once, so messages keep appearing while the rest pours in.
    if (this.#batch.size >= (this.#firstBatch ? FIRST_BATCH : FLUSH_BATCH)) {
      this.#firstBatch = false;
      return this.#background(this.#flush());
    }
    this.#flushTimer ??= setTimeout(() => this.#background(this.#flush()), this.#options.flushMs ?? 0);
  }

  #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const queued = this.#batch;
    this.#batch = new Map();
    this.#absorbing.add(queued);
    const run = this.#flushing.then(() => this.#absorb([...queued.values()]));
    // Once absorbed, the message cache holds what was worth keeping.
    void run.catch(() => undefined).finally(() => this.#absorbing.delete(queued));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Stores and shows a batch of received messages. Ids this session already knows are decided from
   * memory. Unknown ids are nearly always new messages, so they are shown at once, before the store is
   * asked about them; in the rare case it holds a version that wins (an edit or a tombstone we had not
   * loaded), that version replaces the one shown.
   */
  async #absorb(batch: StoredMessage[]): Promise<void> {
    const unknown = batch.filter((message) => this.#store.known(message.id) === undefined);
    const shown = new Set(unknown);
    this.#show(unknown);
    const existing = await this.#store.getMessagesById(batch.map((message) => message.id));
    const changed: StoredMessage[] = [];
    const corrections: StoredMessage[] = [];
    batch.forEach((message, i) => {
      const stored = existing[i];
      const next = stored === undefined ? message : winner(stored, message);
      if (next !== undefined) changed.push(next);
      else if (shown.has(message) && stored !== undefined) corrections.push(stored);
    });
    // The write transaction starts before anything more is shown: IndexedDB runs a later flush's read
    // after it. Neither showing nor the next batch waits for it to commit.
    const written = this.#store.putMessages(changed);
    this.#writes.add(written);
    void written.catch(() => undefined).finally(() => this.#writes.delete(written));
    this.#show([...changed.filter((message) => !shown.has(message)), ...corrections]);
  }

  #show(messages: readonly StoredMessage[]): void {
    const byRoom = new Map<string, StoredMessage[]>();
    for (const message of messages) {
      const list = byRoom.get(message.room);
      if (list === undefined) byRoom.set(message.room, [message]);
      else list.push(message);
    }
    for (const [room, list] of byRoom) {
      const state = this.#rooms.get(room);
      // The oldest message shown is where "load older" continues from (rule HIST-7).
      for (const message of list)
        if (state && (!state.oldest || byTimeline(message, state.oldest) < 0)) state.oldest = message;
      this.#events.emit('messages', room, list);
    }
  }

  /** Waits until every received message so far is stored and emitted (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      await this.#flush();
    }
    await this.#flushing;
    await Promise.all(this.#writes);
  }

  /** Leaves gracefully: presence off in every room and the status topic, then disconnects. */
  async close(): Promise<void> {
    await this.idle();
    for (const state of this.#rooms.values()) clearTimeout(state.beat);
    if (this.transport.status === 'online') {
      await Promise.all(this.rooms.map((room) => this.#announce(room, false).catch(() => undefined)));
      const gone = await makeGone(this.topics, this.identity, this.conn, this.#now());
      await this.#publish(gone).catch(() => undefined);
    }
    await this.transport.close();
  }
}
