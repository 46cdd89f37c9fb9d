// The composition root: the only place that picks the real store and transport.
import { mount } from 'svelte';
import App from './App.svelte';
import { browserNotifier } from './lib/notify.ts';
import { registerServiceWorker } from './pwa/register.ts';
import { AppState } from './state/app.svelte.ts';
import { IdbStore } from './storage/idb-store.ts';
import { MemoryStore } from './storage/memory-store.ts';
import { mqttTransportFactory } from './transport/mqtt-transport.ts';
import './app.css';

const brokerUrl: unknown = import.meta.env.VITE_BROKER_URL;
const topicPrefix: unknown = import.meta.env.VITE_TOPIC_PREFIX;

const app = new AppState({
  openStore: async () => {
    try {
      return { store: await IdbStore.open(), persistent: true };
    } catch (error) {
      // Private modes and locked-down browsers refuse IndexedDB: keep working, just forget on close.
      console.warn('mqchat: IndexedDB unavailable, keeping history in memory', error);
      return { store: new MemoryStore(), persistent: false };
    }
  },
  transport: mqttTransportFactory({ pageProtocol: location.protocol }),
  location: window.location,
  brokerUrl: typeof brokerUrl === 'string' ? brokerUrl : undefined,
  topicPrefix: typeof topicPrefix === 'string' ? topicPrefix : undefined,
  notifier: browserNotifier,
  visible: () => document.visibilityState === 'visible',
});

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
mount(App, { target, props: { app } });
void app.boot();
registerServiceWorker();
