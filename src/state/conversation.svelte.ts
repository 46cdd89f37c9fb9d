import { SvelteMap } from 'svelte/reactivity';
import { dmPeer, type ChatClient } from '../core/chat-client.ts';
import type { Member } from '../core/presence.ts';
import { HISTORY_WINDOW } from '../protocol/history.ts';
import type { StoredMessage } from '../storage/store.ts';
import { Timeline } from './timeline.svelte.ts';
import type { Notice } from './timeline-items.ts';

/** Wait at least this long between two "load older" requests, so a fling at the top asks once. */
const OLDER_COOLDOWN_MS = 250;
/** Messages read from the store per "load older" request (the list renders only what is in view). */
const OLDER_STEP = 300;
/** Join notices are kept for this many of the newest presence changes. */
const NOTICES_KEPT = 200;
/** Looking for a quoted message: at most this many rounds of older history. */
const SEARCH_ROUNDS = 12;
const HIGHLIGHT_MS = 2000;

/** A DM not sealed yet; `id` is local, for the list only. */
export interface Queued {
  id: string;
  text: string;
  ts: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One conversation: a joined room (`id` is its name) or a DM (`id` is '@' + the peer's user id, as
 * the core names it). Holds what the views show; the session feeds it from the client's events.
 */
export class Conversation {
  readonly id: string;
  /** The other person's user id in a DM; undefined in a room. */
  readonly peer: string | undefined;
  readonly timeline = new Timeline();
  /** True once the client has shown stored history and subscribed. */
  joined = $state(false);
  loadingOlder = $state(false);
  unread = $state(0);
  /** Newest sortTs read; only messages after it count as unread. */
  lastRead: number;
  notices = $state.raw<readonly Notice[]>([]);
  members = $state.raw<readonly Member[]>([]);
  typing = $state.raw<readonly { user: string; name: string }[]>([]);
  /** Message id → reaction → user ids. */
  readonly reactions = new SvelteMap<string, Record<string, string[]>>();
  /** Quoted messages found in the store but outside the loaded timeline; null: not there either. */
  readonly quotes = new SvelteMap<string, StoredMessage | null>();
  /** The message the composer replies to. */
  replyTo = $state<string>();
  /** Bridged to the classic paho chat. */
  classic = $state(false);
  /** DM texts waiting for the peer's key (or for me to accept a changed one), shown as such. */
  queued = $state.raw<readonly Queued[]>([]);
  /** The message scrolled to and briefly highlighted. */
  highlighted = $state<string>();
  /** A quoted message being looked for in older history. */
  searching = $state<string>();
  /**
   * When I joined. A member whose latest beat is older was here before me: the retained burst of a
   * join, not someone arriving, so no "joined" line for them.
   */
  readonly openedAt = Date.now();
  readonly #client: ChatClient;

  constructor(client: ChatClient, id: string, lastRead: number) {
    this.#client = client;
    this.id = id;
    this.peer = dmPeer(id);
    this.lastRead = lastRead;
  }

  get isDm(): boolean {
    return this.peer !== undefined;
  }

  /**
   * Whether offering older history makes sense: a join shows at least the newest HISTORY_WINDOW
   * messages (rule HIST-6), so a room showing fewer has nothing older to fetch. DMs come whole.
   */
  get mayHaveOlder(): boolean {
    return !this.isDm && this.timeline.size >= HISTORY_WINDOW;
  }

  /** Gives up on a DM still waiting for a key. */
  unqueue(id: string): void {
    this.queued = this.queued.filter((entry) => entry.id !== id);
  }

  addNotice(notice: Notice): void {
    this.notices = [...this.notices.slice(-(NOTICES_KEPT - 1)), notice];
  }

  /** Asks the client for older history; broker pages arrive later as `messages` events. */
  async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.joined || !this.mayHaveOlder) return;
    this.loadingOlder = true;
    try {
      await Promise.all([this.#client.loadOlder(this.id, OLDER_STEP), sleep(OLDER_COOLDOWN_MS)]);
    } catch (error) {
      console.warn('mqchat: loading older messages failed', error);
    } finally {
      this.loadingOlder = false;
    }
  }

  /** The quoted message, from my own copy only (rule REPLY-1). */
  quote(id: string): StoredMessage | null | undefined {
    return this.timeline.get(id) ?? this.quotes.get(id);
  }

  /**
   * Scrolls to a quoted message: loads older history until it is in the timeline (rule REPLY-2),
   * then highlights it. Resolves false when it cannot be found.
   */
  async reveal(id: string): Promise<boolean> {
    if (this.timeline.get(id) === undefined && !this.isDm) {
      this.searching = id;
      try {
        const found = await this.#client.findMessage(this.id, id);
        for (let round = 0; round < SEARCH_ROUNDS && this.timeline.get(id) === undefined; round++) {
          const older = await this.#client.loadOlder(this.id, found ? 500 : 200);
          // Broker pages arrive as events a little later.
          if (older.length === 0) await sleep(400);
        }
      } catch (error) {
        console.warn('mqchat: looking for a quoted message failed', error);
      } finally {
        this.searching = undefined;
      }
    }
    if (this.timeline.get(id) === undefined) {
      if (this.quotes.get(id) === undefined) this.quotes.set(id, null);
      return false;
    }
    this.highlighted = id;
    setTimeout(() => {
      if (this.highlighted === id) this.highlighted = undefined;
    }, HIGHLIGHT_MS);
    return true;
  }
}
