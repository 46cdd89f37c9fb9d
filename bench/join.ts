import type { Browser } from 'playwright-core';
import mqtt from 'mqtt';
import type { ChatClient } from '../src/core/chat-client.ts';
import { HISTORY_WINDOW } from '../src/protocol/history.ts';
import { MemoryStore } from '../src/storage/memory-store.ts';
import { MemoryBroker } from '../src/transport/memory-transport.ts';
import { launchChromium, openApp } from '../tests/helpers/browser.ts';
import { makeClient } from '../tests/helpers/fixtures.ts';
import { serveStatic } from '../tests/helpers/static-server.ts';
import { BROKER_LABELS, startBenchBroker, type BenchBroker, type BrokerKind } from './brokers.ts';
import {
  int,
  mb,
  median,
  ms,
  num,
  pageHelpers,
  pool,
  ratio,
  sleep,
  waitFor,
  type BenchContext,
  type GroupResult,
  type Table,
} from './lib.ts';

const KINDS: BrokerKind[] = ['bundled', 'mosquitto'];
const FILLER = ' the quick brown fox jumps over the lazy dog';

/** Message i of a room: 40 characters, unique, and sortable by eye ("history-10k 09999 the quick…"). */
export const historyText = (room: string, i: number) =>
  `${room} ${String(i).padStart(5, '0')}${FILLER}`.slice(0, 40);

/**
 * Writes `count` messages into `room` with a real ChatClient over the in-memory broker, so pages,
 * markers, signatures and flags are exactly what the app writes; 250 at a time, each batch
 * acknowledged before the next. Timestamps step 10 s, ending now, so the history spans days.
 */
const writeHistory = async (
  client: ChatClient,
  store: MemoryStore,
  clock: { now: number },
  room: string,
  count: number,
) => {
  await client.join(room);
  const start = Date.now() - count * 10_000;
  for (let i = 0; i < count; i += 250) {
    const batch = Array.from({ length: Math.min(250, count - i) }, (_, j) => i + j);
    await Promise.all(
      batch.map((n) => {
        clock.now = start + n * 10_000;
        return client.send(room, historyText(room, n));
      }),
    );
    await waitFor(
      async () => (await store.getPending()).length === 0,
      `${room}: messages acknowledged`,
      60_000,
    );
  }
  await client.leave(room);
};

/** Everything the ChatClient left retained, in the order written (messages before the markers naming them). */
export const buildHistory = async (rooms: [string, number][]) => {
  const clock = { now: Date.now() };
  const retained: [string, Uint8Array][] = [];
  // A broker, client and store per room: the in-memory broker scans all it retains on every subscribe,
  // and waiting for a store's outbox to empty costs what the store holds.
  for (const [room, count] of rooms) {
    const memory = new MemoryBroker();
    const store = new MemoryStore();
    const client = await makeClient(memory, 'Historian', { store, now: () => clock.now });
    await client.start();
    await waitFor(() => client.transport.status === 'online', 'historian online');
    await writeHistory(client, store, clock, room, count);
    await client.close();
    retained.push(...[...memory.retained].filter(([topic]) => topic.includes('/room/')));
  }
  return retained;
};

/** Publishes retained messages to a real broker: MQTT.js over TCP, QoS 1, up to 500 unacknowledged. */
export const replay = async (url: string, retained: [string, Uint8Array][]) => {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  await pool(retained, 500, ([topic, payload]) =>
    client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain: true }),
  );
  await client.endAsync();
};

interface JoinResult {
  paintMs: number;
  /** From the connection state turning "online" to the newest message in view. */
  afterConnectMs: number;
  /** Messages of the room in the app's IndexedDB. */
  stored: number;
  /** Of the newest HISTORY_WINDOW messages, how many are stored. */
  window: number;
  /** `article` elements in the message log. */
  articles: number;
  heap: number;
  nodes: number;
}

interface BenchWindow {
  __bench?: { t0: number; online: number; painted: number };
}

/** Texts of a room's messages in the app's IndexedDB (src/storage/idb-store.ts: database "mqchat"). */
export const storedTexts = (room: string) =>
  new Promise<string[]>((resolve) => {
    const open = indexedDB.open('mqchat');
    open.onerror = () => resolve([]);
    open.onsuccess = () => {
      const db = open.result;
      try {
        const range = IDBKeyRange.bound([room, -Infinity, ''], [room, Infinity, '\uffff']);
        const all = db.transaction('messages').objectStore('messages').index('timeline').getAll(range);
        all.onsuccess = () => {
          resolve((all.result as { text: string }[]).map((m) => m.text));
          db.close();
        };
        all.onerror = () => resolve([]);
      } catch {
        resolve([]);
      }
    };
  });

/** One join in a fresh browser profile: click Join → the newest message in view; then what is shown. */
const measureJoin = async (
  browser: Browser,
  siteUrl: string,
  broker: BenchBroker,
  room: string,
  count: number,
) => {
  const person = await openApp(browser, siteUrl);
  const { page, context } = person;
  try {
    await pageHelpers(page);
    await page.getByLabel('Name', { exact: true }).fill('Reader');
    await page.getByLabel('Room', { exact: true }).fill(room);
    await page.getByLabel('Broker URL', { exact: true }).fill(broker.urls.ws);
    const newest = historyText(room, count - 1);
    // Timed inside the page: a frame loop watches for the newest message inside the log's visible area;
    // the time is taken in the first animation frame that has it (layout done, paint about to follow).
    await page.evaluate((target) => {
      const w = window as unknown as BenchWindow;
      const bench = { t0: 0, online: 0, painted: 0 };
      w.__bench = bench;
      // When the connection state first reads "online" (the MQTT CONNACK reached the app).
      const status = new MutationObserver(() => {
        if (document.querySelector('[role="status"]')?.textContent?.includes('online')) {
          bench.online = performance.now();
          status.disconnect();
        }
      });
      status.observe(document.body, { childList: true, subtree: true, characterData: true });
      const frame = () => {
        const log = document.querySelector('[role="log"]');
        const texts = log?.querySelectorAll('article p.text');
        const last = texts?.[texts.length - 1];
        if (log && last?.textContent === target) {
          const a = last.getBoundingClientRect();
          const b = log.getBoundingClientRect();
          if (a.bottom > b.top && a.top < b.bottom) {
            bench.painted = performance.now();
            return;
          }
        }
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      const join = [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Join');
      if (join === undefined) throw new Error('no Join button');
      bench.t0 = performance.now();
      join.click();
    }, newest);
    await page.waitForFunction(
      () => ((window as unknown as BenchWindow).__bench?.painted ?? 0) > 0,
      undefined,
      {
        timeout: 120_000,
        polling: 50,
      },
    );
    const { paintMs, afterConnectMs } = await page.evaluate(() => {
      const bench = (window as unknown as BenchWindow).__bench!;
      return { paintMs: bench.painted - bench.t0, afterConnectMs: bench.painted - bench.online };
    });
    // Completeness from the client's own state, not the DOM (the list renders only part of it): the
    // messages of the room in the app's IndexedDB, once their number has not changed for 2 s.
    let stored: string[] = [];
    let stableSince = Date.now();
    const settleStart = Date.now();
    while (Date.now() - stableSince < 2000 && Date.now() - settleStart < 30_000) {
      const now = await page.evaluate(storedTexts, room);
      if (now.length !== stored.length) [stored, stableSince] = [now, Date.now()];
      await sleep(250);
    }
    const texts = new Set(stored);
    const expected = Array.from({ length: Math.min(HISTORY_WINDOW, count) }, (_, i) =>
      historyText(room, count - 1 - i),
    );
    const articles = await page.getByRole('log', { name: 'Messages' }).locator('article').count();
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const counters = await cdp.send('Memory.getDOMCounters');
    return {
      paintMs,
      afterConnectMs,
      stored: texts.size,
      window: expected.filter((text) => texts.has(text)).length,
      articles,
      heap: heap.usedSize / 1024,
      nodes: counters.nodes,
    } satisfies JoinResult;
  } finally {
    await context.close();
  }
};

export const joinGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const runs = ctx.runs(3);
  const sizes = ctx.quick ? [1000] : [1000, 10_000, 50_000];
  const others = ctx.quick ? { rooms: 2, each: 1000 } : { rooms: 10, each: 10_000 };
  const site = await serveStatic(new URL('../dist', import.meta.url).pathname, '/mqchat/');
  const browser = await launchChromium();
  const brokers = new Map<BrokerKind, BenchBroker>();
  const results = new Map<string, JoinResult[]>();
  const key = (kind: BrokerKind, size: number) => `${kind} ${size}`;
  let writeSeconds: number | undefined;
  const replaySeconds = new Map<BrokerKind, number>();
  try {
    const began = Date.now();
    const retained = await buildHistory([
      ...Array.from({ length: others.rooms }, (_, r) => [`other-${r}`, others.each] as [string, number]),
      ...sizes.map((size) => [roomName(size), size] as [string, number]),
    ]);
    writeSeconds = (Date.now() - began) / 1000;
    for (const kind of KINDS) {
      const broker = await startBenchBroker(kind);
      brokers.set(kind, broker);
      const began = Date.now();
      await replay(broker.urls.mqtt, retained);
      replaySeconds.set(kind, (Date.now() - began) / 1000);
      ctx.log(`join: ${int(retained.length)} retained messages published on ${BROKER_LABELS[kind]}`);
    }
    for (let run = 0; run < runs; run++) {
      for (const size of sizes) {
        for (const kind of KINDS) {
          const result = await measureJoin(browser, site.url, brokers.get(kind)!, roomName(size), size);
          results.set(key(kind, size), [...(results.get(key(kind, size)) ?? []), result]);
        }
      }
      ctx.log(`join: run ${run + 1}/${runs} done`);
    }
  } finally {
    await browser.close();
    await site.close();
    await Promise.all([...brokers.values()].map((broker) => broker.close()));
  }

  const pick = (kind: BrokerKind, size: number, field: keyof JoinResult) =>
    median((results.get(key(kind, size)) ?? []).map((r) => r[field]));
  const worst = (kind: BrokerKind, size: number, field: keyof JoinResult) =>
    Math.min(...(results.get(key(kind, size)) ?? []).map((r) => r[field]));
  const table: Table = {
    title: `Joining a room in Chromium (built app, fresh profile; median of ${runs})`,
    columns: [
      'room history',
      'broker',
      'click Join → newest message in view',
      'vs Mosquitto',
      'online → newest message in view (target ≤ 300 ms)',
      'vs Mosquitto, after online',
      `newest ${HISTORY_WINDOW} received (worst run)`,
      'messages received',
      'messages in the DOM',
      'JS heap after GC',
      'DOM nodes',
    ],
    rows: sizes.flatMap((size) =>
      KINDS.map((kind) => [
        `${int(size)} messages`,
        BROKER_LABELS[kind],
        ms(pick(kind, size, 'paintMs')),
        ratio(pick(kind, size, 'paintMs'), pick('mosquitto', size, 'paintMs')),
        ms(pick(kind, size, 'afterConnectMs')),
        ratio(pick(kind, size, 'afterConnectMs'), pick('mosquitto', size, 'afterConnectMs')),
        `${int(worst(kind, size, 'window'))} / ${int(Math.min(HISTORY_WINDOW, size))}`,
        int(pick(kind, size, 'stored')),
        int(pick(kind, size, 'articles')),
        mb(pick(kind, size, 'heap')),
        int(pick(kind, size, 'nodes')),
      ]),
    ),
    numeric: [false, false, true, true, true, true, true, true, true, true, true],
  };
  return {
    name: 'join',
    title: 'Joining a room with history',
    method: [
      `History: ChatClients (one per room, each over its own in-memory broker) write ${sizes.map((s) => int(s)).join(' and ')} messages of 40 characters into rooms of their own, plus ${int(others.rooms * others.each)} more in ${others.rooms} other rooms (${num(writeSeconds ?? Number.NaN, 0)} s). It runs over the in-memory transport so that every message is signed once; what it leaves retained (messages, page and head markers) is then published as-is to each broker by an MQTT.js client, QoS 1, retained (${KINDS.map((kind) => `${BROKER_LABELS[kind]} ${num(replaySeconds.get(kind) ?? NaN, 1)} s`).join(', ')}). The bundled broker runs in its own process with memory persistence, Mosquitto with its defaults. Timestamps are 10 s apart, so the history spans days.`,
      `Each measurement opens the built app (dist/, served as /mqchat/) in a fresh Chromium context (empty IndexedDB, so everything comes from the broker), fills in the join form, then clicks Join from inside the page. A frame loop in the page stops at the first animation frame in which the room's newest message is inside the message log's visible area; the time from the click to that frame is reported, and the time from the moment the connection state first read "online" (a MutationObserver watches it) to that frame. Then the bench reads the room's messages from the app's IndexedDB until their number has not changed for 2 s, and counts which of the newest ${HISTORY_WINDOW} (HIST-6's window) arrived; it also counts the \`article\` elements in the "Messages" log. JS heap: CDP \`Runtime.getHeapUsage\` after \`HeapProfiler.collectGarbage\`; DOM nodes: CDP \`Memory.getDOMCounters\`.`,
    ],
    tables: [table],
    notes: [
      'The time includes everything a person waits for: the WebSocket and MQTT connection (the app tries MQTT 5 first and falls back to 3.1.1 on the bundled broker), the head-marker wait (until the retained head marker arrives; at most 1 s in a room without one), the page subscriptions, verifying every signature, storing in IndexedDB and rendering.',
      `Completeness is read from the client's state (IndexedDB), not from the DOM: HIST-6 fetches up to five pages of 200, more than the ${HISTORY_WINDOW}-message window, while the message list renders only the newest part of what it holds and more on scrolling up.`,
      ...(ctx.quick ? ['Quick run: one room of 1,000 messages and 2,000 in other rooms.'] : []),
    ],
  };
};

const roomName = (size: number) =>
  size >= 1000 && size % 1000 === 0 ? `history-${size / 1000}k` : `history-${size}`;
