import { SvelteMap } from 'svelte/reactivity';
import {
  dmPeer,
  dmRoom,
  type ChatClient,
  type KeyStatus,
  type RoomEntry,
  type SendError,
} from '../core/chat-client.ts';
import type { Member, PresenceChange } from '../core/presence.ts';
import { replaceShortcodes } from '../lib/emoji.ts';
import { excerpt } from '../lib/excerpt.ts';
import { t } from '../lib/i18n/index.svelte.ts';
import type { Notifier, NotifyPermission } from '../lib/notify.ts';
import { mentions } from '../lib/tokenize.ts';
import { fingerprint } from '../protocol/ids.ts';
import { cleanName } from '../protocol/names.ts';
import type { Store, StoredMessage } from '../storage/store.ts';
import type { StatusChange, TransportError, TransportStatus } from '../transport/transport.ts';
import { Conversation } from './conversation.svelte.ts';
import { SETTINGS } from './settings.ts';
import { newestTs, setOf, unreadIn } from './unread.ts';

export interface Me {
  userId: string;
  /** Short fingerprint of the user id, shown beside names (rule ID-3). */
  fingerprint: string;
}

/** What the previous visit left in the store, read by AppState before the session starts. */
export interface Saved {
  rooms: readonly string[];
  dmPeers: readonly string[];
  classic: readonly string[];
  readMarks: Readonly<Record<string, number>>;
  notifications: boolean;
}

export interface SessionOptions {
  client: ChatClient;
  url: string;
  store: Store;
  notifier: Notifier;
  saved: Saved;
  /** The client was given a DM key pair. */
  dmEnabled: boolean;
  /** Whether the page is visible when the session starts. */
  visible?: boolean;
}

export type SendResult = SendError | 'error' | undefined;

/** How long the directory gets to arrive before a room counts as new (and is listed by me). */
const DIRECTORY_WAIT_MS = 1000;
const MARKS_SAVE_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const warn = (what: string) => (error: unknown) => console.warn(`mqchat: ${what}`, error);

/**
 * A connection to one broker as reactive state: the joined rooms and DM conversations, who is
 * online, the directory, settings. Fed only by the chat client's events; components read the fields
 * and call the methods.
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
  /** The conversation shown: a room name or dmRoom(peer); '' for none. */
  current = $state('');
  /** Joined rooms in the order they were joined. */
  roomIds = $state.raw<readonly string[]>([]);
  dmPeers = $state.raw<readonly string[]>([]);
  directory = $state.raw<readonly RoomEntry[]>([]);
  muted = $state.raw<ReadonlySet<string>>(setOf([]));
  /** My display name. */
  name = $state('');
  notifications = $state(false);
  /** Why notifications could not be turned on. */
  notificationsRefused = $state<Exclude<NotifyPermission, 'granted'>>();
  /** The page is visible: messages in the current conversation are read as they arrive. */
  visible = $state(true);
  readonly url: string;
  /** The topic prefix in use, for share links. */
  readonly prefix: string;
  readonly me: Me;
  /** Whether this browser made a DM key (X25519); without it DMs are off. */
  readonly dmEnabled: boolean;
  readonly conversations = new SvelteMap<string, Conversation>();
  /** DM key status per user (rule DM-1). */
  readonly keys = new SvelteMap<string, KeyStatus>();
  /** Latest display name per user id, for people who are not in the online list. */
  readonly #names = new SvelteMap<string, string>();
  readonly #client: ChatClient;
  readonly #store: Store;
  readonly #notifier: Notifier;
  // Bookkeeping nobody renders: plain collections.
  readonly #classic: Set<string>;
  readonly #marks: Record<string, number>;
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  readonly #looked = new Set<string>();
  /** Peers whose waiting DMs are being sent. */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity
  readonly #flushing = new Set<string>();
  #queuedIds = 0;
  #marksTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #off: (() => void)[];

  constructor({ client, url, store, notifier, saved, dmEnabled, visible = true }: SessionOptions) {
    this.#client = client;
    this.#store = store;
    this.#notifier = notifier;
    this.url = url;
    this.prefix = client.topics.prefix;
    this.visible = visible;
    const userId = client.identity.userId;
    this.me = { userId, fingerprint: fingerprint(userId) };
    this.name = client.name;
    this.dmEnabled = dmEnabled;
    this.dmPeers = [...saved.dmPeers];
    // eslint-disable-next-line svelte/prefer-svelte-reactivity
    this.#classic = new Set(saved.classic);
    this.#marks = { ...saved.readMarks };
    this.notifications = saved.notifications && notifier.permission() === 'granted';
    this.#off = [
      client.on('status', (change) => this.#onStatus(change)),
      client.on('messages', (room, messages) => this.#onMessages(room, messages)),
      client.on('rejected', () => (this.rejected = client.rejections.total)),
      client.on('reactions', (room, id, summary) => this.conversations.get(room)?.reactions.set(id, summary)),
      client.on('presence', (room, members, changes) => this.#onPresence(room, members, changes)),
      client.on('typing', (room, users) => {
        const conversation = this.conversations.get(room);
        if (conversation) conversation.typing = users.filter(({ user }) => !this.muted.has(user));
      }),
      client.on('directory', (entries) => (this.directory = entries)),
      client.on('key', (user, status) => this.#onKey(user, status)),
      client.on('muted', (users) => (this.muted = setOf(users))),
    ];
  }

  /** The conversation shown. */
  get conversation(): Conversation | undefined {
    return this.conversations.get(this.current);
  }

  get rooms(): Conversation[] {
    return this.roomIds.flatMap((id) => this.conversations.get(id) ?? []);
  }

  get dms(): Conversation[] {
    return this.dmPeers.flatMap((peer) => this.conversations.get(dmRoom(peer)) ?? []);
  }

  /** Unread messages over every conversation, for the page title. */
  get totalUnread(): number {
    let total = 0;
    for (const conversation of this.conversations.values()) total += conversation.unread;
    return total;
  }

  /** Rooms in the directory that I have not joined. */
  get discoverable(): RoomEntry[] {
    return this.directory.filter((entry) => !this.conversations.has(entry.room));
  }

  /** The best name I know for a user; the fingerprint when I know none. */
  nameOf(user: string): string {
    return this.knownName(user) ?? fingerprint(user);
  }

  /** The latest display name seen for a user, if any. */
  knownName(user: string): string | undefined {
    return user === this.me.userId ? this.name : this.#names.get(user);
  }

  /** Every display name around, for @mention matching. */
  get knownNames(): string[] {
    return [this.name, ...this.#names.values()];
  }

  #learn(user: string, name: string): void {
    if (user.startsWith('classic:') || name === '') return;
    const latest = this.#client.names.get(user) ?? name;
    if (this.#names.get(user) !== latest) this.#names.set(user, latest);
  }

  // ---- events --------------------------------------------------------------------------------

  #onStatus({ status, error, detail, protocolVersion }: StatusChange): void {
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.protocolVersion = status === 'online' ? protocolVersion : undefined;
  }

  #onMessages(room: string, messages: StoredMessage[]): void {
    const peer = dmPeer(room);
    const conversation = peer === undefined ? this.conversations.get(room) : this.#dm(peer);
    if (conversation === undefined) return;
    for (const message of messages) if (!message.deleted) this.#learn(message.from, message.name);
    const timeline = conversation.timeline;
    const fresh = unreadIn(
      messages,
      (id) => timeline.get(id) !== undefined,
      this.me.userId,
      conversation.lastRead,
      this.muted,
    );
    timeline.merge(messages);
    if (fresh.length === 0) return;
    if (this.current === room && this.visible) this.#markRead(conversation);
    else conversation.unread += fresh.length;
    if (!this.visible && this.notifications) this.#notify(conversation, fresh);
  }

  #notify(conversation: Conversation, fresh: StoredMessage[]): void {
    for (const message of fresh) {
      if (!conversation.isDm && !mentions(message.text, this.name)) continue;
      const title = conversation.isDm
        ? t('notify.dm', { name: message.name })
        : t('notify.mention', { name: message.name, room: conversation.id });
      this.#notifier.show(title, excerpt(message.text, 140), conversation.id, () =>
        this.show(conversation.id),
      );
    }
  }

  #onPresence(room: string, members: Member[], changes: PresenceChange[]): void {
    const conversation = this.conversations.get(room);
    if (conversation === undefined) return;
    conversation.members = members;
    for (const member of members) this.#learn(member.user, member.name);
    const now = Date.now();
    for (const { kind, user, name } of changes) {
      if (user === this.me.userId) continue;
      const seen = members.find((member) => member.user === user)?.seen ?? 0;
      if (kind === 'join' && seen < conversation.openedAt) continue;
      conversation.addNotice({ id: `${kind}:${user}:${now}`, kind, user, name, ts: now });
    }
  }

  #onKey(user: string, status: KeyStatus): void {
    if (user === this.me.userId) return;
    this.keys.set(user, status);
    const conversation = this.conversations.get(dmRoom(user));
    if (status !== 'changed' && conversation && conversation.queued.length > 0)
      void this.#flushQueue(conversation);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  start(): void {
    // start() may sign a Last Will first; a failure there shows as a status, not a crash.
    Promise.resolve(this.#client.start())
      .then(() => {
        this.muted = setOf(this.#client.muted);
        for (const peer of this.dmPeers) this.#dm(peer);
      })
      .catch((error: unknown) => console.error('mqchat: start failed', error));
  }

  /**
   * Joins rooms in this order (those not joined yet) and shows `shown`; the rooms in `create` are
   * listed in the directory when nobody has listed them yet.
   */
  async openRooms(
    rooms: readonly string[],
    shown: string,
    { create = [] }: { create?: readonly string[] } = {},
  ): Promise<void> {
    const all = [...rooms, shown].filter((room, i, list) => list.indexOf(room) === i);
    const joins = all.map((room) => this.#join(room));
    this.show(shown);
    for (const room of create) void this.#ensureListed(room).catch(warn('listing the room failed'));
    await Promise.all(joins);
  }

  /** Joins a room (if needed) and shows it; resolves once stored history is shown and subscribed. */
  open(room: string): Promise<void> {
    return this.openRooms([], room);
  }

  async #join(room: string): Promise<void> {
    if (this.conversations.has(room)) return;
    const conversation = new Conversation(this.#client, room, this.#marks[room] ?? Date.now());
    this.conversations.set(room, conversation);
    this.roomIds = [...this.roomIds, room];
    this.#save(SETTINGS.rooms, this.roomIds);
    await this.#client.join(room);
    conversation.joined = true;
    if (this.#classic.has(room)) await this.setClassic(room, true);
  }

  /** A room not in the directory is new: list it, titled with its name (rule ROOM-3). */
  async #ensureListed(room: string): Promise<void> {
    while (this.status !== 'online') {
      if (this.#closed) return;
      await sleep(250);
    }
    await sleep(DIRECTORY_WAIT_MS);
    if (!this.#closed && !this.#client.directory.has(room) && this.conversations.has(room))
      await this.#client.createRoom(room, room);
  }

  /** Leaves a room: the others see me go, and it is not rejoined next time. */
  async leave(room: string): Promise<void> {
    if (!this.conversations.delete(room)) return;
    this.roomIds = this.roomIds.filter((id) => id !== room);
    this.#save(SETTINGS.rooms, this.roomIds);
    if (this.current === room) this.show(this.roomIds[0] ?? this.dms[0]?.id ?? '');
    await this.#client.leave(room).catch(warn('leaving failed'));
  }

  /** Shows a conversation and marks it read. */
  show(id: string): void {
    this.current = id;
    const conversation = this.conversations.get(id);
    if (conversation && this.visible) this.#markRead(conversation);
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    const conversation = this.conversation;
    if (visible && conversation) this.#markRead(conversation);
  }

  #markRead(conversation: Conversation): void {
    conversation.unread = 0;
    const mark = newestTs(conversation.timeline.messages, conversation.lastRead);
    if (mark === conversation.lastRead) return;
    conversation.lastRead = mark;
    this.#marks[conversation.id] = mark;
    this.#marksTimer ??= setTimeout(() => {
      this.#marksTimer = undefined;
      this.#save(SETTINGS.readMarks, { ...this.#marks });
    }, MARKS_SAVE_MS);
  }

  #save(key: string, value: unknown): void {
    this.#store.putSetting(key, value).catch(warn(`could not save ${key}`));
  }

  // ---- direct messages -----------------------------------------------------------------------

  /** The DM conversation with `peer`, made (and remembered) on first use. */
  #dm(peer: string): Conversation {
    const id = dmRoom(peer);
    let conversation = this.conversations.get(id);
    if (conversation !== undefined) return conversation;
    // A conversation never read before: everything from the peer is news.
    conversation = new Conversation(this.#client, id, this.#marks[id] ?? 0);
    this.conversations.set(id, conversation);
    if (!this.dmPeers.includes(peer)) {
      this.dmPeers = [...this.dmPeers, peer];
      this.#save(SETTINGS.dmPeers, this.dmPeers);
    }
    const opened = conversation;
    // Stored history, and a watch on the peer's key so a reply can be sealed at once (rule DM-1).
    this.#client
      .openDm(peer)
      .then(() => (opened.joined = true))
      .catch(warn('opening a DM failed'));
    return conversation;
  }

  /** Shows the DM conversation with `peer`. */
  openDm(peer: string): void {
    if (!this.dmEnabled || peer === this.me.userId) return;
    this.#dm(peer);
    this.show(dmRoom(peer));
  }

  async acceptKey(user: string): Promise<void> {
    await this.#client.acceptKey(user);
  }

  async #sendDm(conversation: Conversation, peer: string, text: string): Promise<SendResult> {
    // Nothing is sealed to a changed key until I accept it, and texts keep their order.
    const waiting =
      this.keys.get(peer) === 'changed' || conversation.queued.length > 0 || this.#flushing.has(peer);
    const result = waiting ? 'no-key' : await this.#client.sendDm(peer, text);
    if (result === 'no-key') {
      const id = `queued-${++this.#queuedIds}`;
      conversation.queued = [...conversation.queued, { id, text, ts: Date.now() }];
      return undefined;
    }
    return typeof result === 'string' ? result : undefined;
  }

  /** Sends the DMs that waited for a key, in order, once it is known (and not a changed one). */
  async #flushQueue(conversation: Conversation): Promise<void> {
    const peer = conversation.peer;
    if (peer === undefined || this.#flushing.has(peer)) return;
    this.#flushing.add(peer);
    try {
      for (let next = conversation.queued[0]; next !== undefined; next = conversation.queued[0]) {
        if (this.keys.get(peer) === 'changed') return;
        // Off the waiting list first, so it never shows twice once the client shows it as pending.
        conversation.unqueue(next.id);
        const result = await this.#client.sendDm(peer, next.text).catch(() => 'error' as const);
        if (result === 'no-key') {
          conversation.queued = [next, ...conversation.queued];
          return;
        }
      }
    } finally {
      this.#flushing.delete(peer);
    }
  }

  // ---- messages ------------------------------------------------------------------------------

  /** Sends to the current conversation, replying to its `replyTo`; shortcodes become emoji. */
  async send(input: string): Promise<SendResult> {
    const conversation = this.conversation;
    if (conversation === undefined) return 'not-joined';
    const text = replaceShortcodes(input);
    try {
      if (conversation.peer !== undefined) return await this.#sendDm(conversation, conversation.peer, text);
      const reply = conversation.replyTo;
      const result = await this.#client.send(conversation.id, text, reply === undefined ? {} : { reply });
      if (typeof result === 'string') return result;
      conversation.replyTo = undefined;
      return undefined;
    } catch (error) {
      // Signing or the store failed: nothing was queued, so the composer keeps the text.
      console.error('mqchat: send failed', error);
      return 'error';
    }
  }

  async edit(id: string, input: string): Promise<SendResult> {
    try {
      const result = await this.#client.edit(id, replaceShortcodes(input));
      return typeof result === 'string' ? result : undefined;
    } catch (error) {
      console.error('mqchat: edit failed', error);
      return 'error';
    }
  }

  async remove(id: string): Promise<void> {
    await this.#client.delete(id).catch(warn('delete failed'));
  }

  async retry(id: string): Promise<void> {
    // A failed publish marks the message 'failed' again; only a store error lands here.
    await this.#client.retry(id).catch(warn('retry failed'));
  }

  async discard(id: string): Promise<void> {
    await this.#client.discard(id).catch(warn('discard failed'));
  }

  async react(room: string, id: string, reaction: string): Promise<void> {
    await this.#client.toggleReaction(room, id, reaction).catch(warn('reaction failed'));
  }

  /** Tells the current room I am typing; the client sends at most one notice every 3 s. */
  typing(): void {
    const conversation = this.conversation;
    if (conversation && !conversation.isDm) void this.#client.typing(conversation.id).catch(() => undefined);
  }

  /** Finds a quoted message in the store when it is not in the loaded timeline (rule REPLY-2). */
  lookupQuote(conversation: Conversation, id: string): void {
    const key = `${conversation.id}/${id}`;
    if (conversation.quote(id) !== undefined || this.#looked.has(key)) return;
    this.#looked.add(key);
    this.#store
      .getMessage(id)
      .then((message) => {
        if (conversation.timeline.get(id) !== undefined) return;
        conversation.quotes.set(id, message?.room === conversation.id ? message : null);
      })
      .catch(warn('quote lookup failed'));
  }

  // ---- settings ------------------------------------------------------------------------------

  /** Sets my display name everywhere at once; kept for next time. */
  async rename(input: string): Promise<boolean> {
    const name = cleanName(input);
    if (name === '') return false;
    await this.#client.rename(name);
    this.name = this.#client.name;
    this.#save(SETTINGS.name, this.name);
    return true;
  }

  async mute(user: string, on: boolean): Promise<void> {
    await this.#client.mute(user, on).catch(warn('mute failed'));
  }

  /** Bridges a room to the classic paho chat (rule CLASSIC-1); kept for next time. */
  async setClassic(room: string, on: boolean): Promise<void> {
    const conversation = this.conversations.get(room);
    if (conversation === undefined || conversation.isDm) return;
    conversation.classic = on;
    if (on) this.#classic.add(room);
    else this.#classic.delete(room);
    this.#save(SETTINGS.classic, [...this.#classic]);
    await this.#client.setClassic(room, on).catch(warn('classic bridge failed'));
  }

  isClassic(room: string): boolean {
    return this.#client.isClassic(room);
  }

  /** Turns desktop notifications for DMs and mentions on (asking the browser) or off. */
  async setNotifications(on: boolean): Promise<void> {
    this.notificationsRefused = undefined;
    if (on) {
      const permission = await this.#notifier.request();
      if (permission !== 'granted') {
        this.notificationsRefused = permission;
        this.notifications = false;
        return;
      }
    }
    this.notifications = on;
    this.#save(SETTINGS.notifications, on);
  }

  /** Re-checks who is still online against the clock (rule PRES-4); the view calls it every 15 s. */
  expirePresence(): void {
    this.#client.expirePresence();
  }

  /** Reconnects now instead of waiting out the backoff: the network is back or the tab is visible. */
  wake(): void {
    this.#client.transport.wake?.();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const off of this.#off) off();
    clearTimeout(this.#marksTimer);
    this.#marksTimer = undefined;
    this.#save(SETTINGS.readMarks, { ...this.#marks });
    await this.#client.close();
  }
}
