import { encodeEnvelope, parseEnvelope, verifyEnvelope, FUTURE_SKEW_MS, Rejections } from '../protocol/envelope.ts';
import type { Envelope, MessageEnvelope, RejectReason } from '../protocol/envelope.ts';
import { clampTimestamp, HISTORY_WINDOW } from '../protocol/history.ts';
import { makeMessageId, randomBytes, toHexId } from '../protocol/ids.ts';
import type { Identity } from '../protocol/keys.ts';
import { makeMessage, makePageMarker } from '../protocol/messages.ts';
import { cleanName, cleanText } from '../protocol/names.ts';
import { parseTopic, topics, type Topics } from '../protocol/topics.ts';
import type { Store, StoredMessage } from '../storage/store.ts';
import { Emitter, type IncomingMessage, type StatusChange, type Transport, type TransportFactory } from '../transport/transport.ts';
import { RoomPages } from './room-pages.ts';

export interface ChatClientOptions {
  transport: TransportFactory;
  url: string;
  store: Store;
  identity: Identity;
  name: string;
  prefix?: string;
  now?: () => number;
  random?: (length: number) => Uint8Array;
  /** How long to wait for a room's retained head marker after subscribing (ms, default 250). */
  headWaitMs?: number;
  /** Delay before a batch of received messages is stored and emitted (ms, default 0). */
  flushMs?: number;
}

export interface ChatEvents {
  status: (change: StatusChange) => void;
  /** Messages added to or changed in a room's timeline, in no particular order. */
  messages: (room: string, messages: StoredMessage[]) => void;
  rejected: (reason: RejectReason, topic: string) => void;
}

export type SendError = 'empty' | 'too-long' | 'not-joined';

interface RoomState {
  pages: RoomPages;
  /** Signature of every message this client holds for the room, by id, to skip re-verifying. */
  sigs: Map<string, string>;
  oldest: StoredMessage | undefined;
}

/**
 * The chat client: joins rooms, sends and receives signed messages, keeps the store in step, and
 * reports everything as typed events. No DOM, no Svelte, no MQTT library: a transport and a store
 * are passed in, so the same code runs in the browser, in Node and against the in-memory twins.
 */
export class ChatClient {
  readonly identity: Identity;
  readonly topics: Topics;
  readonly transport: Transport;
  readonly rejections = new Rejections();
  name: string;
  readonly #options: ChatClientOptions;
  readonly #events = new Emitter<ChatEvents>();
  readonly #rooms = new Map<string, RoomState>();
  readonly #inflight = new Set<string>();
  #batch = new Map<string, StoredMessage>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #now: () => number;
  readonly #random: (length: number) => Uint8Array;

  constructor(options: ChatClientOptions) {
    this.#options = options;
    this.identity = options.identity;
    this.name = cleanName(options.name);
    this.topics = topics(options.prefix);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? randomBytes;
    this.transport = options.transport({
      url: options.url,
      // Per-tab random client ids (rule CONN-4): two tabs never take each other's session over.
      clientId: `mqchat-${toHexId(this.#random(6))}`,
    });
    this.transport.on('status', (change) => {
      this.#events.emit('status', change);
      if (change.status === 'online') void this.#flushOutbox();
    });
    this.transport.on('message', (message) => void this.#receive(message));
  }

  on<K extends keyof ChatEvents>(event: K, handler: ChatEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  start(): void {
    this.transport.connect();
  }

  get rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /** Joins a room: shows stored history at once, then subscribes to the newest pages (rule HIST-6). */
  async join(room: string): Promise<StoredMessage[]> {
    if (this.#rooms.has(room)) return this.#options.store.getMessages(room, { limit: HISTORY_WINDOW });
    const state: RoomState = { pages: new RoomPages(), sigs: new Map(), oldest: undefined };
    this.#rooms.set(room, state);
    const stored = await this.#options.store.getMessages(room, { limit: HISTORY_WINDOW });
    for (const message of stored) {
      state.pages.add(message.page, message.id);
      state.sigs.set(message.id, message.sig);
    }
    state.oldest = stored[0];
    if (stored.length > 0) this.#events.emit('messages', room, stored);
    await this.transport.subscribe([this.topics.head(room), this.topics.pages(room)]);
    // The retained head marker normally follows the SUBACK at once; a room without one starts at 0.
    await this.#waitForHead(state);
    await this.#subscribeWindow(room, state);
    return stored;
  }

  #waitForHead(state: RoomState): Promise<void> {
    const start = state.pages.head;
    const wait = this.#options.headWaitMs ?? 250;
    return new Promise((resolve) => {
      const timer = setTimeout(done, wait);
      const poll = setInterval(() => state.pages.head !== start && done(), 10);
      function done() {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    });
  }

  async #subscribeWindow(room: string, state: RoomState): Promise<void> {
    const pages = state.pages.windowPages().filter((page) => !state.pages.fetched.has(page));
    if (pages.length === 0) return;
    for (const page of pages) state.pages.fetched.add(page);
    await this.transport.subscribe(pages.map((page) => this.topics.pageMessages(room, page)));
  }

  async leave(room: string): Promise<void> {
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    this.#rooms.delete(room);
    const pages = [...state.pages.fetched].map((page) => this.topics.pageMessages(room, page));
    await this.transport.unsubscribe([this.topics.head(room), this.topics.pages(room), ...pages]);
  }

  /**
   * Older history for the timeline: first from the store, then older pages from the broker.
   * Resolves with the messages found in the store; broker pages arrive as `messages` events.
   */
  async loadOlder(room: string, limit = 100): Promise<StoredMessage[]> {
    const state = this.#rooms.get(room);
    if (state === undefined) return [];
    const before = state.oldest;
    const older = await this.#options.store.getMessages(room, {
      limit,
      ...(before !== undefined && { before: { sortTs: before.sortTs, id: before.id } }),
    });
    if (older.length > 0) {
      state.oldest = older[0];
      this.#events.emit('messages', room, older);
    }
    if (older.length < limit) {
      const pages = state.pages.olderPages(2);
      for (const page of pages) state.pages.fetched.add(page);
      if (pages.length > 0) await this.transport.subscribe(pages.map((p) => this.topics.pageMessages(room, p)));
    }
    return older;
  }

  /** Sends a message: shown at once as pending, stored in the outbox, published (rules MSG-1, OUT-1). */
  async send(room: string, input: string, options: { reply?: string } = {}): Promise<StoredMessage | SendError> {
    const state = this.#rooms.get(room);
    if (state === undefined) return 'not-joined';
    const text = cleanText(input).trim();
    if (text.length === 0) return 'empty';
    if (text.length > 8000) return 'too-long';
    const page = state.pages.nextPage();
    const opensPage = !state.pages.known.has(page);
    const id = makeMessageId(this.#random);
    const ts = this.#now();
    const outgoing = await makeMessage(this.topics, this.identity, {
      room,
      page,
      id,
      name: this.name,
      ts,
      text,
      ...(options.reply !== undefined && { reply: options.reply }),
    });
    const stored = toStored(room, page, outgoing.envelope, ts, 'pending');
    state.pages.add(page, id);
    state.sigs.set(id, stored.sig);
    await this.#options.store.putMessages([stored]);
    this.#events.emit('messages', room, [stored]);
    if (opensPage) void this.#publishMarkers(room, page);
    if (page > 0 && state.pages.windowPages().some((p) => !state.pages.fetched.has(p))) {
      void this.#subscribeWindow(room, state);
    }
    void this.#publishStored(stored);
    return stored;
  }

  async #publishMarkers(room: string, page: number): Promise<void> {
    const ts = this.#now();
    for (const kind of ['page', 'head'] as const) {
      const marker = await makePageMarker(this.topics, this.identity, kind, room, page, ts);
      await this.transport.publish(marker.topic, marker.payload, marker).catch(() => undefined);
    }
  }

  /** Publishes (or republishes, with the same id and signature) a stored message (rule OUT-2). */
  async #publishStored(message: StoredMessage): Promise<void> {
    if (this.#inflight.has(message.id)) return;
    this.#inflight.add(message.id);
    const topic = this.topics.message(message.room, message.page, message.id);
    try {
      await this.transport.publish(topic, encodeEnvelope(toEnvelope(message)), { qos: 1, retain: true });
      await this.#settle(message, 'sent');
    } catch {
      await this.#settle(message, 'failed');
    } finally {
      this.#inflight.delete(message.id);
    }
  }

  async #settle(message: StoredMessage, state: 'sent' | 'failed'): Promise<void> {
    const current = (await this.#options.store.getMessage(message.id)) ?? message;
    if (current.state === 'sent') return;
    const updated = { ...current, state };
    await this.#options.store.putMessages([updated]);
    this.#events.emit('messages', updated.room, [updated]);
  }

  /** Republishes every message still in the outbox, e.g. after a reconnect or a reload. */
  async #flushOutbox(): Promise<void> {
    for (const message of await this.#options.store.getPending()) void this.#publishStored(message);
  }

  /** Retries a failed message with its original id and signature. */
  async retry(id: string): Promise<void> {
    const message = await this.#options.store.getMessage(id);
    if (message === undefined || message.state === 'sent') return;
    const pending = { ...message, state: 'pending' as const };
    await this.#options.store.putMessages([pending]);
    this.#events.emit('messages', pending.room, [pending]);
    await this.#publishStored(pending);
  }

  #reject(reason: RejectReason, topic: string): void {
    this.rejections.add(reason);
    this.#events.emit('rejected', reason, topic);
  }

  /** One path for every incoming payload (rule ENV-2): parse, check, verify, then store and emit. */
  async #receive({ topic, payload }: IncomingMessage): Promise<void> {
    const parsed = parseTopic(this.topics.prefix, topic);
    if (parsed === undefined) return;
    const state = this.#rooms.get(parsed.room);
    if (state === undefined) return;
    // Zero-length payloads clear a retained topic; there is nothing to show.
    if (payload.length === 0) return;
    const decoded = parseEnvelope(payload);
    if (!decoded.ok) return this.#reject(decoded.reason, topic);
    const envelope = decoded.envelope;
    if (parsed.kind === 'message') {
      if (envelope.t !== 'msg' || envelope.id !== parsed.id) return this.#reject('topic', topic);
      if (state.sigs.get(envelope.id) === envelope.sig) {
        state.pages.add(parsed.page, envelope.id);
        return;
      }
      if (!(await this.#verify(topic, envelope))) return;
      state.pages.add(parsed.page, envelope.id);
      state.sigs.set(envelope.id, envelope.sig);
      this.#queue(toStored(parsed.room, parsed.page, envelope, this.#now(), 'sent'));
      return;
    }
    if (envelope.t !== parsed.kind || (parsed.kind === 'page' && envelope.page !== parsed.page)) {
      return this.#reject('topic', topic);
    }
    if (!(await this.#verify(topic, envelope))) return;
    if (state.pages.see(envelope.page)) void this.#subscribeWindow(parsed.room, state);
  }

  async #verify(topic: string, envelope: Envelope): Promise<boolean> {
    if (await verifyEnvelope(topic, envelope)) return true;
    this.#reject('signature', topic);
    return false;
  }

  /** Batches received messages so a history burst is stored in one transaction and emitted once. */
  #queue(message: StoredMessage): void {
    this.#batch.set(message.id, message);
    this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#options.flushMs ?? 0);
  }

  async #flush(): Promise<void> {
    this.#flushTimer = undefined;
    const batch = [...this.#batch.values()];
    this.#batch = new Map();
    // Our own echo must not turn a pending message back, nor resurrect it in the outbox.
    const existing = await Promise.all(batch.map((message) => this.#options.store.getMessage(message.id)));
    const fresh = batch.filter((message, i) => existing[i]?.sig !== message.sig || existing[i]?.state !== 'sent');
    const merged = fresh.map((message) => {
      const stored = existing[batch.indexOf(message)];
      return stored !== undefined && stored.sig === message.sig ? { ...stored, state: 'sent' as const } : message;
    });
    await this.#options.store.putMessages(merged);
    const byRoom = new Map<string, StoredMessage[]>();
    for (const message of merged) {
      const list = byRoom.get(message.room);
      if (list === undefined) byRoom.set(message.room, [message]);
      else list.push(message);
    }
    for (const [room, messages] of byRoom) this.#events.emit('messages', room, messages);
  }

  /** Waits until every received message so far is stored and emitted (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#flushTimer !== undefined) await this.#flush();
  }

  async close(): Promise<void> {
    await this.idle();
    await this.transport.close();
  }
}

const toStored = (
  room: string,
  page: number,
  envelope: MessageEnvelope,
  now: number,
  state: StoredMessage['state'],
): StoredMessage => ({
  room,
  page,
  id: envelope.id,
  from: envelope.from,
  name: envelope.name,
  ts: envelope.ts,
  sortTs: clampTimestamp(envelope.ts, now, FUTURE_SKEW_MS),
  text: envelope.text,
  ...(envelope.reply !== undefined && { reply: envelope.reply }),
  sig: envelope.sig,
  state,
});

const toEnvelope = (message: StoredMessage): MessageEnvelope => ({
  v: 1,
  t: 'msg',
  id: message.id,
  from: message.from,
  name: message.name,
  ts: message.ts,
  text: message.text,
  ...(message.reply !== undefined && { reply: message.reply }),
  sig: message.sig,
});
