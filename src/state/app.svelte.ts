import { ChatClient } from '../core/chat-client.ts';
import { generateIdentity, type Identity } from '../protocol/keys.ts';
import type { Store } from '../storage/store.ts';
import type { TransportFactory } from '../transport/transport.ts';
import { isLanguage, locale, type Language } from '../lib/i18n/index.svelte.ts';
import { defaultBrokerUrl, prefill, type JoinInput } from './join-form.ts';
import { ChatSession } from './session.svelte.ts';

/** What the page provides; main.ts passes the real ones, a test can pass twins. */
export interface AppDeps {
  /** IndexedDB when it works; `persistent: false` when it fell back to memory. */
  openStore(): Promise<{ store: Store; persistent: boolean }>;
  transport: TransportFactory;
  /** location.protocol, location.hostname, location.search */
  location: { protocol: string; hostname: string; search: string };
  /** import.meta.env.VITE_BROKER_URL */
  brokerUrl?: string | undefined;
  generateIdentity?: () => Promise<Identity>;
}

/** Settings keys in the store. */
const SETTINGS = { name: 'name', room: 'room', url: 'brokerUrl', language: 'language' } as const;

export interface BootFailure {
  /** WebCrypto without Ed25519: the one failure worth its own explanation. */
  ed25519: boolean;
  detail: string;
}

/** The whole page: boot (store, identity, settings), then a join screen or one chat session. */
export class AppState {
  phase = $state<'loading' | 'ready' | 'failed'>('loading');
  failure = $state.raw<BootFailure>();
  /** False when history lives only in memory (IndexedDB unavailable). */
  persistent = $state(true);
  /** Values for the join form. */
  prefill = $state.raw<JoinInput>({ name: '', room: '', url: '' });
  /** My user id and fingerprint source, known before joining. */
  userId = $state<string>();
  session = $state.raw<ChatSession>();
  readonly #deps: AppDeps;
  #store: Store | undefined;
  #identity: Identity | undefined;

  constructor(deps: AppDeps) {
    this.#deps = deps;
  }

  async boot(): Promise<void> {
    try {
      const { store, persistent } = await this.#deps.openStore();
      this.#store = store;
      this.persistent = persistent;
      const [identity, name, room, url, language] = await Promise.all([
        store.getIdentity(),
        store.getSetting<string>(SETTINGS.name),
        store.getSetting<string>(SETTINGS.room),
        store.getSetting<string>(SETTINGS.url),
        store.getSetting<string>(SETTINGS.language),
      ]);
      if (isLanguage(language)) locale.lang = language;
      this.#identity = identity ?? (await this.#newIdentity(store));
      this.userId = this.#identity.userId;
      const { location } = this.#deps;
      const saved = {
        ...(name !== undefined && { name }),
        ...(room !== undefined && { room }),
        ...(url !== undefined && { url }),
      };
      this.prefill = prefill(
        saved,
        location.search,
        defaultBrokerUrl(this.#deps.brokerUrl, location.hostname),
      );
      this.phase = 'ready';
    } catch (error) {
      console.error('mqchat: boot failed', error);
      const ed25519 = error instanceof DOMException && error.name === 'NotSupportedError';
      this.failure = { ed25519, detail: error instanceof Error ? error.message : String(error) };
      this.phase = 'failed';
    }
  }

  async #newIdentity(store: Store): Promise<Identity> {
    const identity = await (this.#deps.generateIdentity ?? generateIdentity)();
    await store.putIdentity(identity);
    return identity;
  }

  /** Connects and opens the room; `input` must have passed checkJoin. */
  join(input: JoinInput): void {
    const store = this.#store;
    const identity = this.#identity;
    if (store === undefined || identity === undefined) return;
    this.prefill = input;
    void Promise.all([
      store.putSetting(SETTINGS.name, input.name),
      store.putSetting(SETTINGS.room, input.room),
      store.putSetting(SETTINGS.url, input.url),
    ]).catch((error: unknown) => console.warn('mqchat: could not save settings', error));
    const client = new ChatClient({
      transport: this.#deps.transport,
      url: input.url,
      store,
      identity,
      name: input.name,
    });
    const session = new ChatSession(client, input.url);
    this.session = session;
    session.start();
    session.open(input.room).catch((error: unknown) => console.error('mqchat: join failed', error));
  }

  /** Back to the join screen; the client closes in the background. */
  async leave(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.close();
  }

  setLanguage(lang: Language): void {
    locale.lang = lang;
    this.#store?.putSetting(SETTINGS.language, lang).catch(() => undefined);
  }
}
