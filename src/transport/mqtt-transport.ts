import './microtask-tick.ts';
import { Buffer } from 'buffer';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { backoffDelay } from '../core/backoff.ts';
import { checkBrokerUrl } from '../core/urls.ts';
import {
  Emitter,
  type PublishOptions,
  type Session,
  type StatusChange,
  type Transport,
  type TransportError,
  type TransportEvents,
  type TransportOptions,
  type TransportStatus,
  type Will,
} from './transport.ts';

export interface MqttTransportOptions extends TransportOptions {
  /** Try MQTT 5 first and fall back to 3.1.1 when the broker refuses it (default 5). */
  protocolVersion?: 4 | 5;
  /** The page's location.protocol, for the mixed-content check. */
  pageProtocol?: string;
  random?: () => number;
}

// mqtt-packet (MQTT.js's codec) fills a cache of all 65,536 two-byte numbers on its first packet: in the
// browser that is 65,536 Uint8Arrays, about 7 MB of heap and a pause at connect, to save a 2-byte
// allocation per packet id or length written. Off before the first packet.
mqttPacket.writeToStream.cacheNumbers = false;

/** CONNACK codes that mean "wrong credentials" in 3.1.1 (4, 5) and 5.0 (134, 135). */
const AUTH_CODES = new Set([4, 5, 134, 135]);
/** CONNACK codes that mean "this protocol version is not spoken here" (3.1.1: 1; 5.0: 132). */
const VERSION_CODES = new Set([1, 132]);

/** The adapter over MQTT.js; the only file in src/ that imports it. */
export class MqttTransport implements Transport {
  readonly #options: MqttTransportOptions;
  readonly #events = new Emitter<TransportEvents>();
  readonly #filters = new Set<string>();
  #client: MqttClient | undefined;
  #status: TransportStatus = 'offline';
  #version: 4 | 5;
  #confirmedVersion = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = true;
  #lastError: { error: TransportError; detail: string } | undefined;
  #will: Will | undefined;
  /** Publishes not yet acknowledged; they are sent again on every connect until they are. */
  readonly #outbox = new Set<Pending>();
  #connectedOnce = false;
  #openings = 0;

  constructor(options: MqttTransportOptions) {
    this.#options = options;
    this.#version = options.protocolVersion ?? 5;
    this.#will = options.will;
  }

  get url(): string {
    return this.#options.url;
  }
  get status(): TransportStatus {
    return this.#status;
  }

  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  #setStatus(status: TransportStatus, extra: Omit<StatusChange, 'status'> = {}): void {
    this.#status = status;
    this.#events.emit('status', { status, ...extra });
  }

  connect(will?: Will): void {
    if (will !== undefined) this.#will = will;
    const checked = checkBrokerUrl(this.#options.url, this.#options.pageProtocol);
    if (!checked.ok) {
      this.#setStatus('offline', { error: checked.error, detail: this.#options.url });
      return;
    }
    this.#closed = false;
    this.#setStatus('connecting');
    this.#open();
  }

  /** Reconnects now instead of waiting out the backoff (tab visible again, network back). */
  wake(): void {
    if (this.#closed || this.#status === 'online' || this.#status === 'connecting') return;
    clearTimeout(this.#timer);
    this.#open();
  }

  #open(): void {
    // Keep MQTT.js's own listeners on the old client (they clear its CONNACK timer); ours ignore it.
    const old = this.#client;
    old?.on('error', () => undefined);
    old?.end(true);
    this.#client = undefined;
    const { session, credentials } = this.#options;
    const fixed: Session = {
      clientId: this.#options.clientId,
      ...(this.#will !== undefined && { will: this.#will }),
      ...(this.#options.username !== undefined && { username: this.#options.username }),
      ...(this.#options.password !== undefined && { password: this.#options.password }),
    };
    // MQTT.js would reconnect with the same options; each connection is a new MQTT.js client here, so
    // a session (client id, will, login) can be made for each.
    const fresh = session?.() ?? credentials?.().then((login): Session => ({ ...fixed, ...login }));
    if (fresh === undefined) return this.#openWith(fixed);
    const attempt = ++this.#openings;
    fresh.then(
      (made) => attempt === this.#openings && !this.#closed && this.#openWith({ ...fixed, ...made }),
      () => this.#setStatus('offline', { error: 'auth', detail: 'could not sign in' }),
    );
  }

  #openWith({ clientId, will, username, password }: Session): void {
    const options: IClientOptions = {
      clientId,
      protocolVersion: this.#version,
      clean: true,
      keepalive: this.#options.keepalive ?? 60,
      // Our own backoff (rule CONN-2) replaces MQTT.js's fixed reconnect period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      ...(will !== undefined && {
        will: { topic: will.topic, payload: toBuffer(will.payload), qos: will.qos, retain: will.retain },
      }),
    };
    const client = mqtt.connect(this.#options.url, options);
    this.#client = client;
    this.#connectedOnce = false;
    client.on('connect', () => client === this.#client && this.#onConnect());
    client.on(
      'message',
      (topic, payload, packet) =>
        client === this.#client &&
        this.#events.emit('message', { topic, payload: new Uint8Array(payload), retain: packet.retain }),
    );
    client.on(
      'error',
      (error) => client === this.#client && this.#onError(error as Error & { code?: number }),
    );
    client.on('close', () => this.#onClose(client));
  }

  #onConnect(): void {
    this.#connectedOnce = true;
    this.#attempt = 0;
    this.#confirmedVersion = true;
    this.#lastError = undefined;
    this.#setStatus('online', { protocolVersion: this.#version });
    // clean: true means a fresh session: subscribe again, which also redelivers retained messages.
    if (this.#filters.size > 0) this.#client?.subscribe([...this.#filters], { qos: 1 });
    for (const pending of this.#outbox) this.#send(pending);
  }

  #onError(error: Error & { code?: number }): void {
    const code = error.code;
    if (typeof code === 'number' && VERSION_CODES.has(code)) {
      this.#lastError = { error: 'protocol', detail: error.message };
    } else if (typeof code === 'number' && AUTH_CODES.has(code)) {
      this.#lastError = { error: 'auth', detail: error.message };
    } else if (typeof code === 'number') {
      this.#lastError = { error: 'refused', detail: error.message };
    } else {
      this.#lastError ??= { error: 'unreachable', detail: error.message };
    }
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client) return;
    if (this.#closed) return;
    // A broker that never accepted MQTT 5 (aedes 1.x answers with code 1, others just hang up)
    // gets one immediate try with 3.1.1 (rule CONN-3).
    if (!this.#confirmedVersion && this.#version === 5) {
      this.#version = 4;
      this.#lastError = undefined;
      this.#open();
      return;
    }
    // A socket that closes before any CONNACK never reached a broker (browsers give no error first).
    const fallback = this.#connectedOnce
      ? { error: 'closed' as const, detail: 'connection closed' }
      : { error: 'unreachable' as const, detail: this.#options.url };
    const error = this.#lastError ?? fallback;
    if (error.error === 'auth') {
      this.#closed = true;
      this.#setStatus('offline', error);
      return;
    }
    this.#lastError = undefined;
    if (!this.#confirmedVersion) this.#version = this.#options.protocolVersion ?? 5;
    const delay = backoffDelay(this.#attempt++, (this.#options.random ?? Math.random)());
    this.#setStatus('reconnecting', {
      ...error,
      detail: `${error.detail}; retry in ${Math.round(delay / 1000)} s`,
    });
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  async subscribe(filters: string[]): Promise<void> {
    const fresh = filters.filter((filter) => !this.#filters.has(filter));
    if (fresh.length === 0) return;
    for (const filter of fresh) this.#filters.add(filter);
    // Offline: the filters are sent on the next connect.
    if (this.#status !== 'online' || this.#client === undefined) return;
    let granted;
    try {
      granted = await this.#client.subscribeAsync(fresh, { qos: 1 });
    } catch (error) {
      // The connection dropped before the SUBACK: the filters are sent again on the next connect.
      if (this.#status !== 'online' || this.#closed) return;
      throw error;
    }
    const refused = granted.filter((grant) => grant.qos === 128 || grant.qos > 2);
    if (refused.length > 0)
      throw new Error(`subscription refused: ${refused.map((g) => g.topic).join(', ')}`);
  }

  async unsubscribe(filters: string[]): Promise<void> {
    const known = filters.filter((filter) => this.#filters.delete(filter));
    if (known.length > 0 && this.#status === 'online') await this.#client?.unsubscribeAsync(known);
  }

  /**
   * Resolves once the broker acknowledged it (QoS 1) or it was written (QoS 0). Publishes made
   * offline, or cut off by a dropped connection, are sent again after the next connect: each
   * connection is a new MQTT.js client, whose own offline queue would die with it.
   */
  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('transport closed'));
    return new Promise((resolve, reject) => {
      const pending: Pending = { topic, payload: toBuffer(payload), options, resolve, reject };
      this.#outbox.add(pending);
      if (this.#status === 'online') this.#send(pending);
    });
  }

  #send(pending: Pending): void {
    const client = this.#client;
    if (client === undefined || !client.connected) return;
    const { options } = pending;
    const properties =
      this.#version === 5 && options.expiry !== undefined
        ? { properties: { messageExpiryInterval: options.expiry } }
        : {};
    client.publish(
      pending.topic,
      pending.payload,
      { qos: options.qos, retain: options.retain, ...properties },
      (error) => {
        // Without an ack (the connection dropped) it stays in the outbox for the next connect.
        if (error || client !== this.#client || !this.#outbox.has(pending)) return;
        this.#outbox.delete(pending);
        pending.resolve();
      },
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const pending of this.#outbox) pending.reject(new Error('transport closed'));
    this.#outbox.clear();
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await client.endAsync(false).catch(() => undefined);
    this.#setStatus('offline');
  }
}

interface Pending {
  topic: string;
  payload: Buffer;
  options: PublishOptions;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** MQTT.js wants Buffers; the `buffer` package is Node's own in Node and the polyfill in browsers. */
const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export const mqttTransportFactory =
  (extra: Omit<MqttTransportOptions, keyof TransportOptions> = {}) =>
  (options: TransportOptions): MqttTransport =>
    new MqttTransport({ ...options, ...extra });
