// The composition root: the only place that picks the real store and transport.
import { mount } from 'svelte';
import App, { loadChatScreen } from './App.svelte';
import { browserNotifier } from './lib/notify.ts';
import { registerServiceWorker } from './pwa/register.ts';
import { AppState } from './state/app.svelte.ts';
import { IdbStore } from './storage/idb-store.ts';
import { MemoryStore } from './storage/memory-store.ts';
import { lazyTransportFactory } from './transport/lazy-transport.ts';
import './app.css';

const brokerUrl: unknown = import.meta.env.VITE_BROKER_URL;
const topicPrefix: unknown = import.meta.env.VITE_TOPIC_PREFIX;

// MQTT.js is most of the app's JavaScript and the join screen does not need it: a chunk of its own,
// fetched as soon as the join screen is painted (below), so that a click on Join does not wait for it.
const transport = lazyTransportFactory(async () => {
  const { mqttTransportFactory } = await import('./transport/mqtt-transport.ts');
  return mqttTransportFactory({ pageProtocol: location.protocol });
});

/** After the next frame is painted (in a hidden tab, once it is shown; joining loads what it needs anyway). */
const afterPaint = (work: () => void) => requestAnimationFrame(() => setTimeout(work));

const openStore = async () => {
  try {
    return { store: await IdbStore.open(), persistent: true };
  } catch (error) {
    // Private modes and locked-down browsers refuse IndexedDB: keep working, just forget on close.
    console.warn('mqchat: IndexedDB unavailable, keeping history in memory', error);
    return { store: new MemoryStore(), persistent: false };
  }
};
// Opening IndexedDB is the slowest step of a first visit (the browser creates the database): it starts
// here, and runs while the page is mounted.
const store = openStore();

const app = new AppState({
  openStore: () => store,
  transport,
  location: window.location,
  brokerUrl: typeof brokerUrl === 'string' ? brokerUrl : undefined,
  topicPrefix: typeof topicPrefix === 'string' ? topicPrefix : undefined,
  notifier: browserNotifier,
  visible: () => document.visibilityState === 'visible',
});

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
mount(App, { target, props: { app } });
void app.boot().then(() =>
  afterPaint(() => {
    // Failures are not reported here: joining loads all three again, and says so if that fails too.
    app.preload().catch(() => undefined);
    transport.preload().catch(() => undefined);
    loadChatScreen().catch(() => undefined);
  }),
);
registerServiceWorker();
