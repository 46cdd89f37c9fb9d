// Promise helpers for tests that talk MQTT to a real broker.
//
// Glossary:
//   connectClient   an mqtt.js client that is connected (never reconnects on its own)
//   MessageLog      every PUBLISH a client receives, with waits on "a message like this has arrived"
//   RawMqttClient   a TCP socket speaking MQTT through mqtt-packet, for what mqtt.js will not do
//                   (withhold acks, skip PINGREQ, send garbage or an empty client id with clean=false)
//   waitFor         resolve when an event fires, reject after a timeout with a readable message
//
// Every wait has a timeout so a broken broker fails a test instead of hanging it; none of them sleep.

import { once, type EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { generate, parser, type IConnackPacket, type IConnectPacket, type Packet } from 'mqtt-packet';

export const DEFAULT_WAIT_MS = 5_000;

let clientCounter = 0;

/** A client id unique within the test run, readable in broker logs. */
export function uniqueClientId(label = 'test'): string {
  clientCounter += 1;
  return `${label}-${process.pid}-${clientCounter}`;
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${message}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the arguments of the next `event`. */
export function waitFor(emitter: EventEmitter, event: string, ms = DEFAULT_WAIT_MS): Promise<unknown[]> {
  return withTimeout(once(emitter, event), ms, `event "${event}"`);
}

/**
 * Connects an mqtt.js client and resolves once CONNACK arrived. `reconnectPeriod: 0` by default:
 * tests decide when to reconnect.
 */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return (await connectRecording(url, options)).client;
}

/**
 * Like {@link connectClient}, but the message log is attached before the connection opens, so messages
 * the broker sends right after CONNACK (a resumed session's queue) are not missed. Also returns CONNACK.
 */
export async function connectRecording(
  url: string,
  options: IClientOptions = {},
): Promise<{ client: MqttClient; log: MessageLog; connack: IConnackPacket }> {
  const client = connect(url, {
    clientId: uniqueClientId(),
    reconnectPeriod: 0,
    connectTimeout: DEFAULT_WAIT_MS,
    ...options,
  });
  const log = new MessageLog(client);
  try {
    const connack = await withTimeout(
      new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
        client.once('close', () => reject(new Error(`connection to ${url} closed before CONNACK`)));
      }),
      DEFAULT_WAIT_MS,
      `connect to ${url}`,
    );
    return { client, log, connack };
  } catch (error) {
    client.end(true);
    throw error;
  }
}

/** Ends clients, ignoring ones that are already gone. `force` skips the DISCONNECT packet. */
export async function closeClients(clients: Iterable<MqttClient | undefined>, force = false): Promise<void> {
  await Promise.all([...clients].map((client) => client?.endAsync(force).catch(() => {})));
}

/** Resolves when the client's connection has closed (for whatever reason). */
export function waitForClose(client: MqttClient, ms = DEFAULT_WAIT_MS): Promise<void> {
  if (!client.connected && client.disconnected) return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => client.once('close', () => resolve())),
    ms,
    'client connection to close',
  );
}

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  text: string;
  packet: IPublishPacket;
}

/** Records every message a client receives from now on. */
export class MessageLog {
  readonly messages: ReceivedMessage[] = [];
  readonly #client: MqttClient;
  readonly #waiters = new Set<() => void>();
  readonly #onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    this.messages.push({ topic, payload, text: payload.toString('utf8'), packet });
    for (const wake of this.#waiters) wake();
  };

  constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', this.#onMessage);
  }

  get topics(): string[] {
    return this.messages.map((message) => message.topic);
  }

  /** The first recorded message matching `predicate`, waiting for it if it has not arrived yet. */
  async waitFor(
    predicate: (message: ReceivedMessage) => boolean,
    ms = DEFAULT_WAIT_MS,
    what = 'a matching message',
  ): Promise<ReceivedMessage> {
    const found = await this.#waitUntil(() => this.messages.find(predicate), ms, what);
    return found;
  }

  /** Waits for a message on `topic`. */
  waitForTopic(topic: string, ms = DEFAULT_WAIT_MS): Promise<ReceivedMessage> {
    return this.waitFor((message) => message.topic === topic, ms, `a message on "${topic}"`);
  }

  /** Waits until at least `count` messages match and returns them. */
  async waitForCount(
    count: number,
    predicate: (message: ReceivedMessage) => boolean = () => true,
    ms = DEFAULT_WAIT_MS,
  ): Promise<ReceivedMessage[]> {
    return this.#waitUntil(
      () => {
        const matching = this.messages.filter(predicate);
        return matching.length >= count ? matching : undefined;
      },
      ms,
      `${count} messages (have ${this.messages.filter(predicate).length})`,
    );
  }

  stop(): void {
    this.#client.off('message', this.#onMessage);
  }

  #waitUntil<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    let wake: () => void = () => {};
    const result = new Promise<T>((resolve) => {
      wake = () => {
        const value = probe();
        if (value !== undefined) resolve(value);
      };
      this.#waiters.add(wake);
    });
    return withTimeout(result, ms, `${what}; received: ${this.topics.join(', ') || 'nothing'}`).finally(() =>
      this.#waiters.delete(wake),
    );
  }
}

/**
 * MQTT over a bare TCP socket: send any packet (or raw bytes) and await the broker's replies.
 * Nothing is automatic — no PINGREQ, no PUBACK — which is the point.
 */
export class RawMqttClient {
  readonly socket: Socket;
  readonly packets: Packet[] = [];
  /** Resolves when the broker (or we) closed the socket. */
  readonly closed: Promise<void>;
  #waiters = new Set<() => void>();
  #isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parse = parser({ protocolVersion: 4 });
    parse.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.#wakeAll();
    });
    // A parse error on our side means the broker sent junk; record it so waits can fail loudly.
    parse.on('error', (error: Error) => socket.destroy(error));
    socket.on('data', (chunk: Buffer) => parse.parse(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wakeAll();
        resolve();
      }),
    );
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawMqttClient> {
    const socket = netConnect({ port, host });
    await withTimeout(once(socket, 'connect'), DEFAULT_WAIT_MS, `tcp connect to ${host}:${port}`);
    socket.setNoDelay(true);
    return new RawMqttClient(socket);
  }

  /** Opens a socket, sends CONNECT and waits for CONNACK. */
  static async connect(
    port: number,
    connect: Partial<Omit<IConnectPacket, 'cmd'>> = {},
  ): Promise<{ raw: RawMqttClient; connack: Packet }> {
    const raw = await RawMqttClient.open(port);
    raw.send({
      cmd: 'connect',
      clientId: uniqueClientId('raw'),
      protocolVersion: 4,
      keepalive: 0,
      ...connect,
    });
    const connack = await raw.next('connack');
    return { raw, connack };
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(packet: Packet): void {
    this.socket.write(generate(packet));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /**
   * The first not-yet-taken packet with this `cmd` (and matching `predicate`), removed from `packets`.
   * Rejects if the socket closes first.
   */
  async next<C extends Packet['cmd']>(
    cmd: C,
    predicate: (packet: Extract<Packet, { cmd: C }>) => boolean = () => true,
    ms = DEFAULT_WAIT_MS,
  ): Promise<Extract<Packet, { cmd: C }>> {
    const take = (): Extract<Packet, { cmd: C }> | undefined => {
      const index = this.packets.findIndex(
        (packet) => packet.cmd === cmd && predicate(packet as Extract<Packet, { cmd: C }>),
      );
      if (index === -1) return undefined;
      return this.packets.splice(index, 1)[0] as Extract<Packet, { cmd: C }>;
    };
    let wake: () => void = () => {};
    const result = new Promise<Extract<Packet, { cmd: C }>>((resolve, reject) => {
      wake = () => {
        const packet = take();
        if (packet) resolve(packet);
        else if (this.#isClosed) reject(new Error(`socket closed while waiting for ${cmd}`));
      };
      this.#waiters.add(wake);
      wake();
    });
    return withTimeout(result, ms, `raw client waiting for ${cmd}`).finally(() => this.#waiters.delete(wake));
  }

  /** Resolves when the socket closes; rejects after `ms`. */
  waitForClose(ms = DEFAULT_WAIT_MS): Promise<void> {
    return withTimeout(this.closed, ms, 'broker to close the raw connection');
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
  }
}
