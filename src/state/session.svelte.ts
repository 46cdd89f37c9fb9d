import { SvelteMap } from 'svelte/reactivity';
import type { ChatClient, SendError } from '../core/chat-client.ts';
import { fingerprint } from '../protocol/ids.ts';
import type { StatusChange, Transport, TransportError, TransportStatus } from '../transport/transport.ts';
import { RoomState } from './room.svelte.ts';

export interface Me {
  userId: string;
  name: string;
  /** Short fingerprint of the user id, shown beside names (rule ID-3). */
  fingerprint: string;
}

/** The MQTT transport can reconnect at once; the Transport interface does not promise it (yet). */
const canWake = (transport: Transport): transport is Transport & { wake(): void } =>
  'wake' in transport && typeof transport.wake === 'function';

/**
 * A connection to one broker as reactive state. Fed only by the chat client's events: components
 * read the fields and call the methods; nothing else writes them.
 */
export class ChatSession {
  status = $state<TransportStatus>('connecting');
  error = $state<TransportError>();
  /** The transport's own words for the error, e.g. "connect ECONNREFUSED; retry in 4 s". */
  detail = $state<string>();
  /** The MQTT version in use while online: 4 = 3.1.1, 5 = 5.0. */
  protocolVersion = $state<4 | 5>();
  /** Payloads dropped as invalid or forged (client.rejections.total). */
  rejected = $state(0);
  /** The room shown; later, the room switcher sets it. */
  current = $state('');
  readonly url: string;
  readonly me: Me;
  readonly rooms = new SvelteMap<string, RoomState>();
  readonly #client: ChatClient;
  readonly #off: (() => void)[];

  constructor(client: ChatClient, url: string) {
    this.#client = client;
    this.url = url;
    const userId = client.identity.userId;
    this.me = { userId, name: client.name, fingerprint: fingerprint(userId) };
    this.#off = [
      client.on('status', (change) => this.#onStatus(change)),
      client.on('messages', (room, messages) => this.rooms.get(room)?.timeline.merge(messages)),
      client.on('rejected', () => (this.rejected = client.rejections.total)),
    ];
  }

  get room(): RoomState | undefined {
    return this.rooms.get(this.current);
  }

  #onStatus({ status, error, detail, protocolVersion }: StatusChange): void {
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.protocolVersion = status === 'online' ? protocolVersion : undefined;
  }

  start(): void {
    // start() may sign a Last Will first; a failure there shows as a status, not a crash.
    Promise.resolve(this.#client.start()).catch((error: unknown) =>
      console.error('mqchat: start failed', error),
    );
  }

  /** Joins `room` and shows it; resolves once stored history is shown and the room is subscribed. */
  async open(name: string): Promise<void> {
    let room = this.rooms.get(name);
    if (room === undefined) this.rooms.set(name, (room = new RoomState(this.#client, name)));
    this.current = name;
    if (room.joined) return;
    await this.#client.join(name);
    room.joined = true;
  }

  /** Sends to the current room; the message shows up at once through the `messages` event. */
  async send(text: string): Promise<SendError | 'error' | undefined> {
    try {
      const result = await this.#client.send(this.current, text);
      return typeof result === 'string' ? result : undefined;
    } catch (error) {
      // Signing or the store failed: nothing was queued, so the composer keeps the text.
      console.error('mqchat: send failed', error);
      return 'error';
    }
  }

  async retry(id: string): Promise<void> {
    // A failed publish marks the message 'failed' again; only a store error lands here.
    await this.#client.retry(id).catch((error: unknown) => console.warn('mqchat: retry failed', error));
  }

  /** Reconnects now instead of waiting out the backoff: the network is back or the tab is visible. */
  wake(): void {
    const transport = this.#client.transport;
    if (canWake(transport)) transport.wake();
  }

  async close(): Promise<void> {
    for (const off of this.#off) off();
    await this.#client.close();
  }
}
