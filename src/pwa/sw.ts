// The service worker, emitted as dist/sw.js by the `mqchat-pwa` plugin in vite.config.ts (build only).
// It keeps the app shell (index.html, the hashed assets, the manifest, the icons) so the page opens
// offline; the chat history comes from IndexedDB, not from here. It never touches the chat itself:
// WebSockets do not pass through service workers, and cross-origin requests are left alone.
//
// Built as a classic script (no imports, no exports in the output), so it registers in every browser.

/** What the plugin writes in place of `self.__MQCHAT_PRECACHE__`. */
interface Precache {
  /** A hash of every file and its revision: the cache name, so any change makes a new cache. */
  version: string;
  /** Paths relative to sw.js; the shell (index.html) is `./`. */
  files: string[];
}

// The few ServiceWorkerGlobalScope types used here. The WebWorker lib would clash with the DOM lib the
// rest of src/ is checked with.
interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}
interface WorkerScope {
  readonly __MQCHAT_PRECACHE__: Precache;
  readonly location: Location;
  readonly registration: ServiceWorkerRegistration;
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
}
declare const self: WorkerScope;

const { version, files } = self.__MQCHAT_PRECACHE__;
const base = new URL('./', self.location.href);
const SHELL = base.href;
const INDEX = new URL('index.html', base).href;
const PRECACHED = new Set(files.map((file) => new URL(file, base).href));
// Caches belong to the origin, and every fork on <user>.github.io shares one: name ours by scope, and
// delete only our own old versions.
const PREFIX = `mqchat ${self.registration.scope} `;
const CACHE = PREFIX + version;

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await Promise.all(
        [...PRECACHED].map(async (url) => {
          // 'reload' skips the HTTP cache: hosts let browsers keep files for a while (GitHub Pages: 10
          // minutes), and a stale index.html would name assets of the previous deploy.
          const response = await fetch(url, { cache: 'reload' });
          if (!response.ok) throw new Error(`mqchat sw: ${url} answered ${response.status}`);
          await cache.put(url, response.redirected ? await unredirected(response) : response);
        }),
      );
      // Take over at once: navigations are network-first, so the next load is the new deploy anyway.
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names.filter((name) => name.startsWith(PREFIX) && name !== CACHE).map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.hash = '';
  // Other origins (brokers' HTTP endpoints, anything else) and other apps on this origin: untouched.
  if (url.origin !== base.origin || !url.href.startsWith(base.href)) return;
  if (request.mode === 'navigate') {
    event.respondWith(networkFirst(request, url));
  } else if (PRECACHED.has(url.href)) {
    event.respondWith(cacheFirst(request));
  }
});

/**
 * Pages: the network, so a new deploy shows up on the next load; the cached shell when the network
 * fails. The fresh page is not cached: the shell in the cache must stay the one whose assets are there.
 */
async function networkFirst(request: Request, url: URL): Promise<Response> {
  try {
    return await fetch(request);
  } catch (error) {
    url.search = '';
    const cache = await caches.open(CACHE);
    const isShell = url.href === SHELL || url.href === INDEX;
    const cached = await cache.match(isShell ? SHELL : url.href);
    if (cached !== undefined) return cached;
    throw error;
  }
}

/** Hashed assets, the manifest and the icons: from the cache of this version, else the network. */
async function cacheFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  return (await cache.match(request, { ignoreSearch: true })) ?? fetch(request);
}

/**
 * Browsers refuse a redirected response as the answer to a navigation; some hosts redirect
 * `/index.html` or add a trailing slash. Keep the body and headers, drop the redirect.
 */
async function unredirected(response: Response): Promise<Response> {
  return new Response(await response.blob(), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

export {};
