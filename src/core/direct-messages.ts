import { compareKnownKey, makeKeyAnnouncement, type DhKeyPair } from '../protocol/dh.ts';
import { TEXT_MAX_LENGTH, type RejectReason } from '../protocol/envelope.ts';
import { openDirect, sealDirect } from '../protocol/dms.ts';
import { HISTORY_WINDOW } from '../protocol/history.ts';
import { makeMessageId } from '../protocol/ids.ts';
import type { Identity } from '../protocol/keys.ts';
import type { Outgoing } from '../protocol/messages.ts';
import { cleanText } from '../protocol/names.ts';
import type { Topics } from '../protocol/topics.ts';
import type { Store, StoredMessage } from '../storage/store.ts';
import type { Emitter, Transport } from '../transport/transport.ts';
import type { ChatEvents, KeyStatus, SendError } from './events.ts';
import { directToStored, dmRoom } from './records.ts';

/** What the DM part needs of the chat client. */
export interface DirectContext {
  topics: Topics;
  identity: Identity;
  store: Store;
  transport: Transport;
  events: Emitter<ChatEvents>;
  dh: DhKeyPair | undefined;
  names: Map<string, string>;
  name(): string;
  now(): number;
  random(length: number): Uint8Array;
  publish(outgoing: Outgoing<unknown>): Promise<void>;
  settle(message: StoredMessage, state: 'sent' | 'failed'): Promise<void>;
  queue(message: StoredMessage): void;
  reject(reason: RejectReason, topic: string): void;
}

const KNOWN_KEYS = 'known-dh-keys';

/**
 * Direct messages (PROTOCOL.md rules DM-1..DM-5): key announcements with trust on first use, sealing
 * to both inboxes, opening what arrives in mine. DM timelines live under the pseudo-room `@<peer>`.
 */
export class DirectMessages {
  readonly keys = new Map<string, { dh: string; status: KeyStatus }>();
  readonly #ctx: DirectContext;
  #knownKeys: Record<string, string> = {};
  readonly #sigs = new Map<string, string>();
  readonly #watched = new Set<string>();

  constructor(ctx: DirectContext) {
    this.#ctx = ctx;
  }

  /** Topics to subscribe to at start: my inbox and my own key (to notice another device's). */
  async start(): Promise<string[]> {
    this.#knownKeys = (await this.#ctx.store.getSetting<Record<string, string>>(KNOWN_KEYS)) ?? {};
    const me = this.#ctx.identity.userId;
    return this.#ctx.dh ? [this.#ctx.topics.inbox(me), this.#ctx.topics.key(me)] : [];
  }

  async announceKey(): Promise<void> {
    const { dh, topics, identity } = this.#ctx;
    if (dh === undefined) return;
    await this.#ctx.publish(await makeKeyAnnouncement(topics, identity, dh.publicKey, this.#ctx.now()));
  }

  async open(peer: string): Promise<StoredMessage[]> {
    if (!this.#watched.has(peer)) {
      this.#watched.add(peer);
      await this.#ctx.transport.subscribe([this.#ctx.topics.key(peer)]);
    }
    const stored = await this.#ctx.store.getMessages(dmRoom(peer), { limit: HISTORY_WINDOW });
    if (stored.length > 0) this.#ctx.events.emit('messages', dmRoom(peer), stored);
    return stored;
  }

  /** Seals to the peer's announced key and to mine, publishes to both inboxes (rules DM-2, DM-5). */
  async send(peer: string, input: string): Promise<StoredMessage | SendError> {
    const { dh, identity } = this.#ctx;
    const peerKey = peer === identity.userId ? dh?.publicKey : this.keys.get(peer)?.dh;
    if (dh === undefined || peerKey === undefined) return 'no-key';
    const text = cleanText(input).trim();
    if (text.length === 0) return 'empty';
    if (text.length > TEXT_MAX_LENGTH) return 'too-long';
    const ts = this.#ctx.now();
    const sealed = await sealDirect({
      topics: this.#ctx.topics,
      identity,
      to: peer,
      toDhKey: peerKey,
      ownDhKey: dh.publicKey,
      id: makeMessageId((length) => this.#ctx.random(length)),
      name: this.#ctx.name(),
      ts,
      text,
    });
    const first = sealed[0];
    if (first === undefined) return 'no-key';
    const stored = directToStored(peer, first.envelope, ts, 'pending');
    this.#sigs.set(stored.id, stored.sig);
    await this.#ctx.store.putMessages([stored]);
    this.#ctx.events.emit('messages', stored.room, [stored]);
    try {
      await Promise.all(sealed.map((outgoing) => this.#ctx.publish(outgoing)));
      await this.#ctx.settle(stored, 'sent');
    } catch {
      await this.#ctx.settle(stored, 'failed');
    }
    return stored;
  }

  /** Opens a sealed DM from my inbox; anything that fails to open or verify is rejected (rule DM-5). */
  async receive(topic: string, owner: string, id: string, payload: Uint8Array): Promise<void> {
    const { dh, identity } = this.#ctx;
    if (dh === undefined || owner !== identity.userId) return;
    const opened = await openDirect({
      topic,
      owner,
      id,
      payload,
      dhPrivateKey: dh.privateKey,
      dhPublicKey: dh.publicKey,
    });
    if (!opened.ok) {
      const reason = opened.reason === 'decrypt' || opened.reason === 'binding' ? 'signature' : opened.reason;
      return this.#ctx.reject(reason, topic);
    }
    const envelope = opened.envelope;
    if (this.#sigs.get(envelope.id) === envelope.sig) return;
    this.#sigs.set(envelope.id, envelope.sig);
    const peer = envelope.from === identity.userId ? envelope.to : envelope.from;
    this.#ctx.names.set(envelope.from, envelope.name);
    this.#ctx.queue(directToStored(peer, envelope, this.#ctx.now(), 'sent'));
  }

  /** A verified key announcement: trusted on first use, a warning when it differs later (rule DM-1). */
  async applyKey(user: string, dh: string): Promise<void> {
    const status = compareKnownKey(this.#knownKeys[user], dh);
    if (status === 'new') {
      this.#knownKeys[user] = dh;
      await this.#ctx.store.putSetting(KNOWN_KEYS, { ...this.#knownKeys });
    }
    this.keys.set(user, { dh, status });
    this.#ctx.events.emit('key', user, status);
  }

  async acceptKey(user: string): Promise<void> {
    const key = this.keys.get(user);
    if (key === undefined) return;
    this.#knownKeys[user] = key.dh;
    await this.#ctx.store.putSetting(KNOWN_KEYS, { ...this.#knownKeys });
    this.keys.set(user, { dh: key.dh, status: 'same' });
    this.#ctx.events.emit('key', user, 'same');
  }
}
