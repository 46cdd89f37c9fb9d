import type { ChatClient } from '../core/chat-client.ts';
import { HISTORY_WINDOW } from '../protocol/history.ts';
import { Timeline } from './timeline.svelte.ts';

/** Wait at least this long between two "load older" requests, so a fling at the top asks once. */
const OLDER_COOLDOWN_MS = 800;

/** One joined room: its timeline and the paging state of its history. */
export class RoomState {
  readonly name: string;
  readonly timeline = new Timeline();
  /** True once the client has shown stored history and subscribed to the room. */
  joined = $state(false);
  loadingOlder = $state(false);
  readonly #client: ChatClient;

  constructor(client: ChatClient, name: string) {
    this.#client = client;
    this.name = name;
  }

  /**
   * Whether offering older history makes sense: a join shows at least the newest HISTORY_WINDOW
   * messages (rule HIST-6), so a room showing fewer has nothing older to fetch.
   */
  get mayHaveOlder(): boolean {
    return this.timeline.size >= HISTORY_WINDOW;
  }

  /** Asks the client for older history; broker pages arrive later as `messages` events. */
  async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.joined || !this.mayHaveOlder) return;
    this.loadingOlder = true;
    try {
      await Promise.all([
        this.#client.loadOlder(this.name),
        new Promise((resolve) => setTimeout(resolve, OLDER_COOLDOWN_MS)),
      ]);
    } catch (error) {
      console.warn('mqchat: loading older messages failed', error);
    } finally {
      this.loadingOlder = false;
    }
  }
}
