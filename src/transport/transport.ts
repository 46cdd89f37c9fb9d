/**
 * The transport contract (trystero-style: connect, subscribe, publish). mqtt.js is wrapped in
 * mqtt-transport.ts, the only file that imports it; memory-transport.ts is the in-memory twin that
 * tests use. tests/contract/transport.ts runs one suite against both.
 */
export type TransportStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** Why the last connection attempt failed, for a human message in the UI. */
export type TransportError =
  'invalid-url' | 'mixed-content' | 'unreachable' | 'refused' | 'auth' | 'closed' | 'protocol';

export interface StatusChange {
  status: TransportStatus;
  error?: TransportError;
  detail?: string;
  /** The MQTT protocol version in use while online: 4 = 3.1.1, 5 = 5.0. */
  protocolVersion?: 4 | 5;
}

export interface IncomingMessage {
  topic: string;
  payload: Uint8Array;
  /** True when the broker delivered it as a stored (retained) message on subscribe. */
  retain: boolean;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
  /** Seconds the broker may keep the message (MQTT 5 message expiry); ignored on 3.1.1. */
  expiry?: number;
}

export interface Will extends PublishOptions {
  topic: string;
  payload: Uint8Array;
}

/** What one MQTT connection presents to the broker; see `TransportOptions.session`. */
export interface Session {
  clientId: string;
  will?: Will;
  username?: string;
  password?: string;
}

export interface TransportOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  will?: Will;
  /** Fresh credentials for every connect (key-bound logins sign the time, rule AUTH-4). */
  credentials?: () => Promise<{ username: string; password: string }>;
  /**
   * Made afresh before every connect and reconnect; its fields replace `clientId`, `will` and the
   * credentials above. mqchat names each connection anew (PROTOCOL.md PRES-1, PRES-3), so the will of
   * a dead connection can never match the connection that replaced it. Only the latest call's result
   * is used, so the caller may treat the latest call as the connection to come.
   */
  session?: () => Promise<Session>;
  /** Seconds; the default suits background tabs whose timers browsers throttle to once a minute. */
  keepalive?: number;
}

export interface TransportEvents {
  status: (change: StatusChange) => void;
  message: (message: IncomingMessage) => void;
}

export interface Transport {
  readonly url: string;
  readonly status: TransportStatus;
  /**
   * Starts connecting; status events report progress. Subscriptions survive reconnects. A `will`
   * given here replaces the one from the options (it is often signed only once keys are loaded); a
   * `session` from the options replaces both.
   */
  connect(will?: Will): void;
  /** Resolves once the broker acknowledged the subscription. */
  subscribe(filters: string[]): Promise<void>;
  unsubscribe(filters: string[]): Promise<void>;
  /** Resolves when the broker acknowledged it (QoS 1) or it was written (QoS 0). */
  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void>;
  on<K extends keyof TransportEvents>(event: K, handler: TransportEvents[K]): () => void;
  /** Reconnects now instead of waiting out the backoff (tab visible again, network back). */
  wake?(): void;
  /** Graceful close: no will is published. */
  close(): Promise<void>;
}

export type TransportFactory = (options: TransportOptions) => Transport;

/** A tiny typed emitter shared by the transports and the core. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  #handlers = new Map<keyof Events, Set<(...args: never[]) => void>>();

  on<K extends keyof Events>(event: K, handler: Events[K]): () => void {
    let set = this.#handlers.get(event);
    if (set === undefined) this.#handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const handler of this.#handlers.get(event) ?? [])
      (handler as (...a: Parameters<Events[K]>) => void)(...args);
  }
}
