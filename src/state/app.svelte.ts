import { isLanguage, locale, type Language } from '../lib/i18n/index.svelte.ts';
import { browserNotifier, type Notifier } from '../lib/notify.ts';
import { generateDhKeyPair, type DhKeyPair } from '../protocol/dh.ts';
import { generateExportableIdentity } from '../protocol/backup.ts';
import type { Identity } from '../protocol/keys.ts';
import type { Store } from '../storage/store.ts';
import type { TransportFactory } from '../transport/transport.ts';
import { exportIdentityFile, IdentityFileError, importIdentityFile, isExportable } from './identity-file.ts';
import {
  CUSTOM,
  defaultBrokerUrl,
  defaultPrefix,
  prefill,
  type JoinInput,
  type SavedJoin,
} from './join-form.ts';
import type { ChatSession, Saved } from './session.svelte.ts';
import { SETTINGS } from './settings.ts';

/**
 * The chat client and session, chunks of their own: the join screen is painted without them. Loaded on
 * the first join, or earlier by `preload`; the browser keeps a module once loaded.
 */
const loadChat = async () => {
  const [{ ChatClient }, { ChatSession }] = await Promise.all([
    import('../core/chat-client.ts'),
    import('./session.svelte.ts'),
  ]);
  return { ChatClient, ChatSession };
};

/** What the page provides; main.ts passes the real ones, a test can pass twins. */
export interface AppDeps {
  /** IndexedDB when it works; `persistent: false` when it fell back to memory. */
  openStore(): Promise<{ store: Store; persistent: boolean }>;
  transport: TransportFactory;
  /** location.protocol, location.hostname, location.search */
  location: { protocol: string; hostname: string; search: string };
  /** import.meta.env.VITE_BROKER_URL */
  brokerUrl?: string | undefined;
  /** import.meta.env.VITE_TOPIC_PREFIX */
  topicPrefix?: string | undefined;
  generateIdentity?: () => Promise<Identity>;
  generateDhKeyPair?: () => Promise<DhKeyPair>;
  notifier?: Notifier;
  /** document.visibilityState === 'visible' */
  visible?: () => boolean;
}

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
  prefill = $state.raw<JoinInput>({
    name: '',
    room: '',
    url: '',
    preset: CUSTOM,
    username: '',
    password: '',
    login: false,
    prefix: '',
  });
  /** The topic prefix offered when nothing else says (the build's, else 'mqchat'). */
  defaultPrefix = $state('');
  /** My user id and fingerprint source, known before joining. */
  userId = $state<string>();
  session = $state.raw<ChatSession>();
  readonly #deps: AppDeps;
  #store: Store | undefined;
  #identity: Identity | undefined;
  #dh: DhKeyPair | undefined;

  constructor(deps: AppDeps) {
    this.#deps = deps;
  }

  async boot(): Promise<void> {
    try {
      const { store, persistent } = await this.#deps.openStore();
      this.#store = store;
      this.persistent = persistent;
      const [identity, saved, language] = await Promise.all([
        store.getIdentity(),
        this.#savedJoin(store),
        store.getSetting<string>(SETTINGS.language),
      ]);
      if (isLanguage(language)) locale.lang = language;
      this.#identity = identity ?? (await this.#newIdentity(store));
      this.userId = this.#identity.userId;
      this.#dh = await this.#dmKey(store);
      const { location } = this.#deps;
      this.defaultPrefix = defaultPrefix(this.#deps.topicPrefix);
      this.prefill = prefill(saved, location.search, {
        url: defaultBrokerUrl(this.#deps.brokerUrl, location.hostname),
        prefix: this.defaultPrefix,
      });
      this.phase = 'ready';
    } catch (error) {
      console.error('mqchat: boot failed', error);
      const ed25519 = error instanceof DOMException && error.name === 'NotSupportedError';
      this.failure = { ed25519, detail: error instanceof Error ? error.message : String(error) };
      this.phase = 'failed';
    }
  }

  /** The join form's values from last time; settings of the wrong type are ignored. */
  async #savedJoin(store: Store): Promise<SavedJoin> {
    const [name, room, url, preset, username, login, prefix] = await Promise.all([
      store.getSetting<unknown>(SETTINGS.name),
      store.getSetting<unknown>(SETTINGS.room),
      store.getSetting<unknown>(SETTINGS.url),
      store.getSetting<unknown>(SETTINGS.preset),
      store.getSetting<unknown>(SETTINGS.username),
      store.getSetting<unknown>(SETTINGS.login),
      store.getSetting<unknown>(SETTINGS.prefix),
    ]);
    return {
      ...(typeof name === 'string' && { name }),
      ...(typeof room === 'string' && { room }),
      ...(typeof url === 'string' && { url }),
      ...(typeof preset === 'string' && { preset }),
      ...(typeof username === 'string' && { username }),
      ...(typeof login === 'boolean' && { login }),
      ...(typeof prefix === 'string' && { prefix }),
    };
  }

  async #newIdentity(store: Store): Promise<Identity> {
    // Made with a sealed copy of its key, so it can be exported later (rule ID-4).
    const identity = await (this.#deps.generateIdentity ?? generateExportableIdentity)();
    await store.putIdentity(identity);
    return identity;
  }

  /**
   * The DM key pair (rule DM-1), made once per browser and kept: a new one would show everyone a
   * "key changed" warning. Browsers without X25519 get none, and DMs are off.
   */
  async #dmKey(store: Store): Promise<DhKeyPair | undefined> {
    const saved = await store.getSetting<DhKeyPair>(SETTINGS.dh);
    if (saved !== undefined) return saved;
    try {
      const dh = await (this.#deps.generateDhKeyPair ?? generateDhKeyPair)();
      await store.putSetting(SETTINGS.dh, dh);
      return dh;
    } catch (error) {
      console.warn('mqchat: no X25519 in this browser, direct messages are off', error);
      return undefined;
    }
  }

  async #saved(store: Store): Promise<Saved> {
    const [rooms, dmPeers, classic, readMarks, notifications] = await Promise.all([
      store.getSetting<string[]>(SETTINGS.rooms),
      store.getSetting<string[]>(SETTINGS.dmPeers),
      store.getSetting<string[]>(SETTINGS.classic),
      store.getSetting<Record<string, number>>(SETTINGS.readMarks),
      store.getSetting<boolean>(SETTINGS.notifications),
    ]);
    return {
      rooms: rooms ?? [],
      dmPeers: dmPeers ?? [],
      classic: classic ?? [],
      readMarks: readMarks ?? {},
      notifications: notifications ?? false,
    };
  }

  /**
   * Connects, rejoins the rooms joined last time and opens the room asked for (listing it in the
   * directory when it is new); `input` must have passed checkJoin.
   */
  async join(input: JoinInput): Promise<void> {
    const store = this.#store;
    const identity = this.#identity;
    if (store === undefined || identity === undefined) return;
    this.prefill = input;
    // Everything but the password, which lives only in this page's memory.
    void Promise.all([
      store.putSetting(SETTINGS.name, input.name),
      store.putSetting(SETTINGS.room, input.room),
      store.putSetting(SETTINGS.url, input.url),
      store.putSetting(SETTINGS.preset, input.preset),
      store.putSetting(SETTINGS.username, input.username),
      store.putSetting(SETTINGS.login, input.login),
      store.putSetting(SETTINGS.prefix, input.prefix),
    ]).catch((error: unknown) => console.warn('mqchat: could not save settings', error));
    let chat: Awaited<ReturnType<typeof loadChat>>;
    let saved: Saved | undefined;
    try {
      [chat, saved] = await Promise.all([loadChat(), this.#saved(store).catch(() => undefined)]);
    } catch (error) {
      // Offline, and the code is in no cache: stay on the join screen, where Join tries again.
      console.error('mqchat: could not load the chat', error);
      return;
    }
    const { ChatClient, ChatSession } = chat;
    const client = new ChatClient({
      transport: this.#deps.transport,
      url: input.url,
      store,
      identity,
      name: input.name,
      prefix: input.prefix,
      ...(input.login
        ? { login: true }
        : {
            ...(input.username !== '' && { username: input.username }),
            ...(input.password !== '' && { password: input.password }),
          }),
      ...(this.#dh !== undefined && { dh: this.#dh }),
    });
    const session = new ChatSession({
      client,
      url: input.url,
      store,
      notifier: this.#deps.notifier ?? browserNotifier,
      saved: saved ?? { rooms: [], dmPeers: [], classic: [], readMarks: {}, notifications: false },
      dmEnabled: this.#dh !== undefined,
      visible: this.#deps.visible?.() ?? true,
    });
    this.session = session;
    session.start();
    await session
      .openRooms(saved?.rooms ?? [], input.room, { create: [input.room] })
      .catch((error: unknown) => console.error('mqchat: join failed', error));
  }

  /** Starts loading the code that joining needs, so that a click on Join does not wait for it. */
  async preload(): Promise<void> {
    await loadChat();
  }

  /** Whether my identity can be written to a backup file (identities made before backups cannot). */
  get exportable(): boolean {
    return this.#identity !== undefined && isExportable(this.#identity);
  }

  /** A passphrase-protected backup of my identity, to download (rule ID-4). */
  async exportIdentity(passphrase: string): Promise<Blob> {
    if (this.#identity === undefined) throw new IdentityFileError('not-exportable');
    return exportIdentityFile(this.#identity, passphrase);
  }

  /**
   * Replaces my identity with one from a backup file, then returns to the join screen. DM keys are
   * per device and never exported (rule ID-4): a fresh one, so the two identities are not linked by
   * a shared key, and the old identity's DM conversations are forgotten here.
   */
  async importIdentity(file: Blob, passphrase: string): Promise<void> {
    const store = this.#store;
    if (store === undefined) return;
    const identity = await importIdentityFile(file, passphrase);
    await this.leave();
    await store.putIdentity(identity);
    await store.putSetting(SETTINGS.dmPeers, []);
    await store.putSetting(SETTINGS.dh, undefined);
    this.#identity = identity;
    this.userId = identity.userId;
    this.#dh = await this.#dmKey(store);
  }

  /** Back to the join screen; the client closes in the background. */
  async leave(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    // The join form offers what was in use: a name changed in the settings, the room shown.
    if (session !== undefined) {
      const room = session.conversation?.isDm === false ? session.current : this.prefill.room;
      this.prefill = { ...this.prefill, name: session.name, room };
    }
    await session?.close();
  }

  setLanguage(lang: Language): void {
    locale.lang = lang;
    this.#store?.putSetting(SETTINGS.language, lang).catch(() => undefined);
  }
}
