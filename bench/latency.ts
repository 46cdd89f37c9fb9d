import type { Browser, Page } from 'playwright-core';
import { joinRoom, launchChromium, openApp, type Person } from '../tests/helpers/browser.ts';
import { serveStatic } from '../tests/helpers/static-server.ts';
import { BROKER_LABELS, startBenchBroker, type BenchBroker, type BrokerKind } from './brokers.ts';
import {
  int,
  ms,
  percentile,
  ratio,
  sleep,
  waitFor,
  type BenchContext,
  type GroupResult,
  type Table,
  pageHelpers,
} from './lib.ts';

const KINDS: BrokerKind[] = ['bundled', 'mosquitto'];

interface Arrival {
  sent: number;
  /** The message's element appeared in this page's log (the sender's own copy is shown at once, pending). */
  inserted: number;
  painted: number;
  /** Sender only: the element's data-state became "sent" (the broker acknowledged the publish). */
  acked: number;
}

interface LatencyWindow {
  __arrivals?: Record<string, Arrival>;
}

/**
 * Watches a page's message log: a MutationObserver notes when an article whose text is
 * "lat <tag> <i> <sent>" appears, the next animation frame when it is painted, and (in the sender's
 * page) when its data-state turns "sent". Times are wall-clock milliseconds (performance.timeOrigin +
 * performance.now()), comparable across pages.
 */
const watch = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as LatencyWindow;
    const arrivals: Record<string, Arrival> = {};
    w.__arrivals = arrivals;
    const clock = () => performance.timeOrigin + performance.now();
    const log = document.querySelector('[role="log"]');
    if (log === null) throw new Error('no message log');
    const key = (article: Element) =>
      /^lat (\S+ \d+) (\d+(?:\.\d+)?)$/.exec(article.querySelector('p.text')?.textContent ?? '');
    const acked = (article: Element, at: number) => {
      const arrival = arrivals[key(article)?.[1] ?? ''];
      if (arrival !== undefined && arrival.acked === 0 && article.getAttribute('data-state') === 'sent')
        arrival.acked = at;
    };
    new MutationObserver((records) => {
      const now = clock();
      for (const record of records) {
        if (record.type === 'attributes' && record.target instanceof Element) acked(record.target, now);
        for (const node of record.addedNodes) {
          if (!(node instanceof Element)) continue;
          for (const article of node.matches('article') ? [node] : node.querySelectorAll('article')) {
            const match = key(article);
            if (match === null || arrivals[match[1]!] !== undefined) continue;
            const arrival = { sent: Number(match[2]), inserted: now, painted: 0, acked: 0 };
            arrivals[match[1]!] = arrival;
            acked(article, now);
            requestAnimationFrame(() => (arrival.painted = clock()));
          }
        }
      }
    }).observe(log, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });

/** Types a message into the sending page's composer and presses Enter, stamping the send time in it. */
const send = (page: Page, key: string) =>
  page.evaluate((key) => {
    const box = document.querySelector<HTMLTextAreaElement>('textarea#composer-text');
    if (box === null) throw new Error('no composer');
    const sent = performance.timeOrigin + performance.now();
    box.value = `lat ${key} ${sent.toFixed(1)}`;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
  }, key);

interface Pair {
  kind: BrokerKind;
  sender: Person;
  receiver: Person;
}

const openPair = async (
  browser: Browser,
  siteUrl: string,
  broker: BenchBroker,
  room: string,
): Promise<Pair> => {
  const sender = await openApp(browser, siteUrl);
  const receiver = await openApp(browser, siteUrl);
  await joinRoom(sender, 'Sender', broker.urls.ws, room);
  await joinRoom(receiver, 'Receiver', broker.urls.ws, room);
  for (const person of [sender, receiver]) {
    await pageHelpers(person.page);
    await watch(person.page);
  }
  return { kind: broker.kind, sender, receiver };
};

/**
 * Sends `count` messages at `rate` per second from each pair's sender. With several pairs, their sends
 * are spread evenly over each period, so at 1 msg/s two brokers are measured in the same 100 seconds
 * without a message of one in flight while the other's is sent.
 */
const drive = async (pairs: Pair[], tag: string, rate: number, count: number) => {
  const period = 1000 / rate;
  const start = performance.now() + 200;
  for (let i = 0; i < count; i++) {
    for (const [p, pair] of pairs.entries()) {
      const at = start + i * period + (p * period) / pairs.length;
      await sleep(Math.max(0, at - performance.now()));
      await send(pair.sender.page, `${tag} ${i}`);
    }
  }
  const read = async (page: Page) =>
    Object.entries(await page.evaluate(() => (window as unknown as LatencyWindow).__arrivals ?? {}))
      .filter(([key]) => key.startsWith(`${tag} `))
      .map(([, arrival]) => arrival);
  // Until every message is painted on the other side, or 20 s have passed (a backlog drains slowly).
  const drained = async () => {
    for (const pair of pairs) {
      const arrivals = await read(pair.receiver.page);
      if (arrivals.length < count || arrivals.some((a) => a.painted === 0)) return false;
    }
    return true;
  };
  await waitFor(drained, 'messages to arrive', 20_000).catch(() => undefined);
  return Promise.all(
    pairs.map(async (pair) => {
      const [own, received] = [await read(pair.sender.page), await read(pair.receiver.page)];
      return {
        kind: pair.kind,
        received: received.length,
        shown: own.map((a) => a.inserted - a.sent),
        acked: own.filter((a) => a.acked > 0).map((a) => a.acked - a.sent),
        inserted: received.map((a) => a.inserted - a.sent),
        painted: received.filter((a) => a.painted > 0).map((a) => a.painted - a.sent),
      };
    }),
  );
};

type Samples = Awaited<ReturnType<typeof drive>>[number];

export const latencyGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const count = ctx.quick ? 20 : 100;
  const site = await serveStatic(new URL('../dist', import.meta.url).pathname, '/mqchat/');
  const browser = await launchChromium();
  const brokers: BenchBroker[] = [];
  const rows: Record<string, Samples> = {};
  try {
    const pairs: Pair[] = [];
    for (const kind of KINDS) {
      const broker = await startBenchBroker(kind);
      brokers.push(broker);
      pairs.push(await openPair(browser, site.url, broker, `latency-${kind}`));
    }
    // Warm-up, not counted: the first messages pay for JIT and first renders.
    await drive(pairs, 'warm', 10, 10);
    // 1 msg/s: both brokers in the same stretch, interleaved; 10 msg/s: one broker at a time.
    for (const result of await drive(pairs, 'slow', 1, count)) rows[`${result.kind} 1`] = result;
    ctx.log('latency: 1 msg/s done');
    for (const pair of pairs) {
      const [result] = await drive([pair], 'fast', 10, count);
      rows[`${pair.kind} 10`] = result!;
    }
    ctx.log('latency: 10 msg/s done');
    for (const pair of pairs) for (const person of [pair.sender, pair.receiver]) await person.context.close();
  } finally {
    await browser.close();
    await site.close();
    await Promise.all(brokers.map((broker) => broker.close()));
  }
  const p = (
    kind: BrokerKind,
    rate: number,
    q: number,
    field: 'shown' | 'acked' | 'inserted' | 'painted' = 'painted',
  ) => percentile(rows[`${kind} ${rate}`]?.[field] ?? [], q);
  const table: Table = {
    title: `Sent in one Chromium page → painted in another (room of 2, ${count} messages per rate)`,
    columns: [
      'rate',
      'broker',
      'received',
      'sender: own copy shown p50',
      'sender: acknowledged p50',
      'receiver: in the DOM p50',
      'painted p50',
      'painted p99',
      'p50 vs Mosquitto',
      'p99 vs Mosquitto',
    ],
    rows: [1, 10].flatMap((rate) =>
      KINDS.map((kind) => [
        `${rate} msg/s`,
        BROKER_LABELS[kind],
        `${int(rows[`${kind} ${rate}`]?.received ?? 0)} / ${int(count)}`,
        ms(p(kind, rate, 50, 'shown')),
        ms(p(kind, rate, 50, 'acked')),
        ms(p(kind, rate, 50, 'inserted')),
        ms(p(kind, rate, 50)),
        ms(p(kind, rate, 99)),
        ratio(p(kind, rate, 50), p('mosquitto', rate, 50)),
        ratio(p(kind, rate, 99), p('mosquitto', rate, 99)),
      ]),
    ),
    numeric: [false, false, true, true, true, true, true, true, true, true],
  };
  return {
    name: 'latency',
    title: 'Message latency between two browsers',
    method: [
      `Two fresh Chromium contexts open the built app and join a room of their own on each broker (the bundled broker in its own process, and Mosquitto). The sender's page types "lat <n> <time>" into the composer and presses Enter from inside the page, the time being \`performance.timeOrigin + performance.now()\` (the wall clock, shared by both pages, with sub-millisecond resolution). In both pages a MutationObserver on the message log notes when the message's element is inserted (in the sender's page that is its own copy, shown at once as pending) and, in the sender's page, when its \`data-state\` turns "sent" (the broker's PUBACK); in the receiver's page a \`requestAnimationFrame\` callback notes when the next frame is drawn ("painted"). All columns are times since the Enter key. ${count} messages at 1 msg/s (both brokers in the same ${count} s, their sends half a second apart) and at 10 msg/s (one broker at a time), after 10 uncounted warm-up messages; so the rooms already hold 10 messages when the 1 msg/s series starts and ${count + 10} when the 10 msg/s series starts.`,
    ],
    tables: [table],
    notes: [
      'The path measured is the whole app: signing (Ed25519), storing the pending message, publishing over WebSocket, the broker, then on the other side parsing, verifying, storing in IndexedDB and rendering.',
      'A message is timed from the Enter key, so time spent in the sending page (signing, storing, rendering its own copy) counts; "sender: own copy shown" isolates it. When it grows with the rate, the sending page is the bottleneck, not the broker.',
      `With ${count} samples, p99 is the ${count >= 100 ? 'second-largest' : 'largest'} value: read it as "the slow tail", not as a precise figure.`,
    ],
  };
};
