import { isValidFilter, topicMatches } from './match.ts';
import {
  Emitter,
  type IncomingMessage,
  type PublishOptions,
  type Session,
  type Transport,
  type TransportEvents,
  type TransportOptions,
  type TransportStatus,
  type Will,
} from './transport.ts';

/**
 * An in-memory MQTT broker: wildcards, retained messages (a zero-length retained publish clears the
 * topic), wills on abrupt disconnects, and restarts. Enough of MQTT 3.1.1 for fast tests of the core.
 */
export class MemoryBroker {
  readonly retained = new Map<string, Uint8Array>();
  readonly #sessions = new Map<string, MemoryTransport>();
  #up = true;
  /** Every publish the broker accepted, for assertions. */
  readonly log: { topic: string; payload: Uint8Array; retain: boolean }[] = [];

  get up(): boolean {
    return this.#up;
  }

  /** @internal called by MemoryTransport */
  attach(session: MemoryTransport): boolean {
    if (!this.#up) return false;
    // [MQTT-3.1.4-2] a second connection with the same client id takes over the first one.
    this.#sessions.get(session.clientId)?.dropped(false);
    this.#sessions.set(session.clientId, session);
    return true;
  }

  /** @internal */
  detach(session: MemoryTransport, graceful: boolean): void {
    if (this.#sessions.get(session.clientId) !== session) return;
    this.#sessions.delete(session.clientId);
    const will = session.will;
    if (!graceful && will !== undefined) this.publish(will.topic, will.payload, will);
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions): void {
    this.log.push({ topic, payload, retain: options.retain });
    if (options.retain) {
      if (payload.length === 0) this.retained.delete(topic);
      else this.retained.set(topic, payload);
    }
    for (const session of this.#sessions.values()) session.deliver(topic, payload, false);
  }

  /** @internal retained messages matching a new subscription, in topic order. */
  retainedFor(filter: string): [string, Uint8Array][] {
    return [...this.retained].filter(([topic]) => topicMatches(filter, topic));
  }

  /** Cuts a client's connection as a network failure would: its will is published. */
  cut(clientId: string): void {
    const session = this.#sessions.get(clientId);
    if (session === undefined) return;
    this.detach(session, false);
    session.dropped(true);
  }

  /** A crash: every connection drops, retained messages stay (persistence), wills are lost. */
  stop(): void {
    this.#up = false;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const session of sessions) session.dropped(true);
  }

  start(): void {
    this.#up = true;
  }

  get clientIds(): string[] {
    return [...this.#sessions.keys()];
  }
}

export interface MemoryTransportOptions extends TransportOptions {
  broker: MemoryBroker;
  /** Milliseconds between reconnect attempts (default 1000); timers are faked in tests. */
  reconnectMs?: number;
}

export class MemoryTransport implements Transport {
  readonly options: MemoryTransportOptions;
  readonly #events = new Emitter<TransportEvents>();
  readonly #filters = new Set<string>();
  #queue: { topic: string; payload: Uint8Array; options: PublishOptions; done: () => void }[] = [];
  #status: TransportStatus = 'offline';
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The client id and will of the connection (to come); a `session` option makes one per attempt. */
  #session: Session;
  #attempts = 0;

  constructor(options: MemoryTransportOptions) {
    this.options = options;
    this.#session = { clientId: options.clientId, ...(options.will !== undefined && { will: options.will }) };
  }

  get url(): string {
    return this.options.url;
  }
  get clientId(): string {
    return this.#session.clientId;
  }
  get will(): Will | undefined {
    return this.#session.will;
  }
  get status(): TransportStatus {
    return this.#status;
  }

  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  connect(will?: Will): void {
    if (will !== undefined) this.options.will = this.#session.will = will;
    this.#closed = false;
    this.#setStatus('connecting');
    queueMicrotask(() => this.#attempt());
  }

  /** Makes the attempt's session first when the options ask for one per connect, as MQTT.js' adapter does. */
  #attempt(): void {
    const session = this.options.session;
    if (this.#closed) return;
    if (session === undefined) return this.#attach();
    const attempt = ++this.#attempts;
    void session().then((made) => {
      if (attempt !== this.#attempts || this.#closed) return;
      this.#session = { ...this.#session, ...made };
      this.#attach();
    });
  }

  #attach(): void {
    if (!this.options.broker.attach(this)) {
      this.#setStatus('reconnecting', 'unreachable');
      this.#timer = setTimeout(() => this.#attempt(), this.options.reconnectMs ?? 1000);
      return;
    }
    this.#setStatus('online');
    for (const filter of this.#filters) this.#sendRetained(filter);
    const queue = this.#queue;
    this.#queue = [];
    for (const item of queue) this.#publishNow(item.topic, item.payload, item.options, item.done);
  }

  #setStatus(status: TransportStatus, error?: 'unreachable'): void {
    this.#status = status;
    this.#events.emit('status', {
      status,
      ...(error !== undefined && { error }),
      ...(status === 'online' && { protocolVersion: 4 as const }),
    });
  }

  /** @internal the broker cut this session */
  dropped(reconnect: boolean): void {
    if (this.#closed) return;
    if (!reconnect) {
      this.#closed = true;
      this.#setStatus('offline');
      return;
    }
    this.#setStatus('reconnecting');
    this.#timer = setTimeout(() => this.#attempt(), this.options.reconnectMs ?? 1000);
  }

  /** @internal */
  deliver(topic: string, payload: Uint8Array, retain: boolean): void {
    if (![...this.#filters].some((filter) => topicMatches(filter, topic))) return;
    const message: IncomingMessage = { topic, payload, retain };
    queueMicrotask(() => {
      if (this.#status === 'online') this.#events.emit('message', message);
    });
  }

  #sendRetained(filter: string): void {
    for (const [topic, payload] of this.options.broker.retainedFor(filter)) {
      queueMicrotask(() => {
        if (this.#status === 'online') this.#events.emit('message', { topic, payload, retain: true });
      });
    }
  }

  async subscribe(filters: string[]): Promise<void> {
    const invalid = filters.find((filter) => !isValidFilter(filter));
    if (invalid !== undefined) throw new Error(`invalid topic filter: ${invalid}`);
    const fresh = filters.filter((filter) => !this.#filters.has(filter));
    for (const filter of fresh) this.#filters.add(filter);
    if (this.#status === 'online') for (const filter of fresh) this.#sendRetained(filter);
    await Promise.resolve();
  }

  async unsubscribe(filters: string[]): Promise<void> {
    for (const filter of filters) this.#filters.delete(filter);
    await Promise.resolve();
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    return new Promise((resolve) => {
      if (this.#status === 'online') this.#publishNow(topic, payload, options, resolve);
      else this.#queue.push({ topic, payload, options, done: resolve });
    });
  }

  #publishNow(topic: string, payload: Uint8Array, options: PublishOptions, done: () => void): void {
    queueMicrotask(() => {
      this.options.broker.publish(topic, payload, options);
      done();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.options.broker.detach(this, true);
    this.#setStatus('offline');
  }
}

export const memoryTransportFactory =
  (broker: MemoryBroker, reconnectMs?: number) =>
  (options: TransportOptions): Transport =>
    new MemoryTransport({ ...options, broker, ...(reconnectMs !== undefined && { reconnectMs }) });
