import { writeFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp } from '../tests/helpers/browser.ts';
import { serveStatic } from '../tests/helpers/static-server.ts';
import { startBenchBroker, type BenchBroker } from './brokers.ts';
import { buildHistory, historyText, replay, storedTexts } from './join.ts';
import {
  int,
  mb,
  ms,
  num,
  pageHelpers,
  percentile,
  sleep,
  waitFor,
  type BenchContext,
  type GroupResult,
  type Table,
} from './lib.ts';

/**
 * Scrolling a room with 10,000 messages loaded: the reader pages the whole history in by scrolling
 * up (as a person would), then the bench scrolls from the newest to the oldest a screen per frame and
 * records every frame. `BENCH_SCROLL_PEER_DIST` names another build of the app (e.g. the list before
 * it was virtual) to measure the same way as a peer row; `BENCH_SCROLL_TRACE` names a file for a
 * Chromium trace of the scroll (DevTools performance panel or Perfetto), to see what a long frame is.
 */
const ROOM = 'scroll-10k';
const EMPTY = 'scroll-empty';

interface ScrollResult {
  label: string;
  loaded: number;
  loadSeconds: number;
  frames: number[];
  longFrames: number;
  longParts: LongFrameParts;
  /** Main-thread time during the scroll (CDP Performance metrics), ms. */
  work: MainThreadWork;
  scrolledPx: number;
  nodes: number;
  articles: number;
  heap: number;
  /** Heap of the same build after joining an empty room, in KiB. */
  baseHeap: number;
  reachedOldest: boolean;
}

const join = async (page: Page, broker: BenchBroker, room: string) => {
  await page.getByLabel('Name', { exact: true }).fill('Reader');
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByLabel('Broker URL', { exact: true }).fill(broker.urls.ws);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('status').getByText('online').waitFor({ timeout: 30_000 });
  // History poured in: the log is no longer busy.
  await page.locator('[role="log"][aria-busy="false"]').waitFor({ timeout: 60_000 });
};

const heapAndNodes = async (page: Page) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  const counters = await cdp.send('Memory.getDOMCounters');
  await cdp.detach();
  return { heap: heap.usedSize / 1024, nodes: counters.nodes };
};

/** Whether the article with `text` is in the log's DOM. */
const rendered = (page: Page, text: string) =>
  page.evaluate((target) => {
    for (const p of document.querySelectorAll('[role="log"] article p.text'))
      if (p.textContent === target) return true;
    return false;
  }, text);

/** Scrolls to the top of the log every 200 ms (each time older history loads) until `oldest` is rendered. */
const loadAll = async (page: Page, room: string, count: number, timeout: number) => {
  const oldest = historyText(room, 0);
  const began = Date.now();
  while (!(await rendered(page, oldest)) && Date.now() - began < timeout) {
    await page.evaluate(() => {
      const log = document.querySelector('[role="log"]');
      if (log) log.scrollTop = 0;
    });
    await sleep(200);
  }
  const seconds = (Date.now() - began) / 1000;
  // Whatever still arrives of the last page: wait until the stored count stops moving.
  let stored = 0;
  await waitFor(
    async () => {
      const now = (await page.evaluate(storedTexts, room)).length;
      const stable = now === stored;
      stored = now;
      return stable || now >= count;
    },
    'stored messages to settle',
    30_000,
  ).catch(() => undefined);
  return { seconds, loaded: stored, reached: await rendered(page, oldest) };
};

/** Where the main thread's time went in the long animation frames (sums over all of them, ms). */
interface LongFrameParts {
  /** Tasks and microtasks before the frame's rendering began (the scroll handler, Svelte's updates). */
  script: number;
  /** requestAnimationFrame callbacks and ResizeObserver callbacks, up to style and layout. */
  frameCallbacks: number;
  /** The rendering update's style recalculation and layout (and what follows until the frame ends). */
  styleAndLayout: number;
  /** Style and layout forced synchronously by scripts (reading geometry after writes). */
  forcedLayout: number;
}

/** CDP `Performance.getMetrics` durations over the scroll: main-thread time in tasks and its parts (ms). */
interface MainThreadWork {
  task: number;
  script: number;
  layout: number;
  style: number;
  layouts: number;
}

const mainThreadMetrics = async (page: Page) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
  const read = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const get = (name: string) => metrics.find((metric) => metric.name === name)?.value ?? 0;
    return {
      task: get('TaskDuration') * 1000,
      script: get('ScriptDuration') * 1000,
      layout: get('LayoutDuration') * 1000,
      style: get('RecalcStyleDuration') * 1000,
      layouts: get('LayoutCount'),
    };
  };
  const before = await read();
  return async (): Promise<MainThreadWork> => {
    const after = await read();
    await cdp.detach();
    return {
      task: after.task - before.task,
      script: after.script - before.script,
      layout: after.layout - before.layout,
      style: after.style - before.style,
      layouts: after.layouts - before.layouts,
    };
  };
};

interface FrameWindow {
  __frames?: {
    frames: number[];
    long: number;
    parts: LongFrameParts;
    /** Script time in long animation frames by what ran it (LoAF `invoker` and function name), ms. */
    invokers: Record<string, number>;
    px: number;
    done: boolean;
  };
}

/**
 * From the bottom of the log to its top, one screen per animation frame (a fast, steady fling): the
 * interval between consecutive frames, and the long-animation-frame entries over 50 ms.
 */
const scrollThrough = async (page: Page, oldest: string | undefined) => {
  await page.evaluate(() => {
    const log = document.querySelector('[role="log"]')!;
    log.scrollTop = log.scrollHeight;
  });
  await sleep(500);
  await page.evaluate((target) => {
    const w = window as unknown as FrameWindow;
    const log = document.querySelector('[role="log"]')!;
    const parts = { script: 0, frameCallbacks: 0, styleAndLayout: 0, forcedLayout: 0 };
    const state = {
      frames: [] as number[],
      long: 0,
      parts,
      invokers: {} as Record<string, number>,
      px: 0,
      done: false,
    };
    w.__frames = state;
    interface LoafScript {
      forcedStyleAndLayoutDuration: number;
      duration: number;
      invoker: string;
      sourceFunctionName: string;
    }
    interface Loaf extends PerformanceEntry {
      renderStart: number;
      styleAndLayoutStart: number;
      scripts: LoafScript[];
    }
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as Loaf[]) {
        if (entry.duration <= 50) continue;
        state.long++;
        const end = entry.startTime + entry.duration;
        const render = entry.renderStart || end;
        const layout = entry.styleAndLayoutStart || end;
        parts.script += render - entry.startTime;
        parts.frameCallbacks += layout - render;
        parts.styleAndLayout += end - layout;
        for (const script of entry.scripts) {
          parts.forcedLayout += script.forcedStyleAndLayoutDuration;
          const name = `${script.invoker} ${script.sourceFunctionName}`.trim();
          state.invokers[name] = (state.invokers[name] ?? 0) + script.duration;
        }
      }
    });
    try {
      observer.observe({ type: 'long-animation-frame' });
    } catch {
      // Not supported: the frame intervals still tell.
    }
    const oldestInView = () => {
      if (target === undefined) return true;
      const box = log.getBoundingClientRect();
      for (const p of log.querySelectorAll('article p.text')) {
        if (p.textContent !== target) continue;
        const r = p.getBoundingClientRect();
        return r.bottom > box.top && r.top < box.bottom;
      }
      return false;
    };
    let last = 0;
    const frame = (now: number) => {
      if (last > 0) state.frames.push(now - last);
      last = now;
      if (log.scrollTop <= 0 && oldestInView()) {
        observer.disconnect();
        state.done = true;
        return;
      }
      const before = log.scrollTop;
      log.scrollTop = Math.max(0, before - log.clientHeight);
      state.px += before - log.scrollTop;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }, oldest);
  await page.waitForFunction(() => (window as unknown as FrameWindow).__frames?.done === true, undefined, {
    timeout: 300_000,
    polling: 500,
  });
  return page.evaluate(() => {
    const state = (window as unknown as FrameWindow).__frames!;
    return {
      frames: state.frames,
      long: state.long,
      parts: state.parts,
      invokers: state.invokers,
      px: state.px,
    };
  });
};

/**
 * A Chromium trace (CDP `Tracing`, the DevTools performance panel's categories with V8's sampling
 * profiler) from now until the returned function is called with a file to write it to: open it in
 * the DevTools performance panel or https://ui.perfetto.dev.
 */
const startTrace = async (page: Page) => {
  const cdp = await page.context().newCDPSession(page);
  const events: unknown[] = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: {
      includedCategories: [
        'devtools.timeline',
        'disabled-by-default-devtools.timeline',
        'disabled-by-default-devtools.timeline.frame',
        'v8.execute',
        'blink.user_timing',
        'loading',
        'disabled-by-default-v8.cpu_profiler',
      ],
    },
  });
  return async (file: string) => {
    const done = new Promise<void>((resolve) => cdp.once('Tracing.tracingComplete', () => resolve()));
    await cdp.send('Tracing.end');
    await done;
    await cdp.detach();
    await writeFile(file, JSON.stringify({ traceEvents: events }));
  };
};

const measure = async (
  browser: Browser,
  siteUrl: string,
  broker: BenchBroker,
  label: string,
  count: number,
  ctx: BenchContext,
): Promise<ScrollResult> => {
  const empty = await openApp(browser, siteUrl);
  let baseHeap: number;
  try {
    await join(empty.page, broker, EMPTY);
    baseHeap = (await heapAndNodes(empty.page)).heap;
  } finally {
    await empty.context.close();
  }
  const person = await openApp(browser, siteUrl);
  const { page } = person;
  try {
    await pageHelpers(page);
    await join(page, broker, ROOM);
    const load = await loadAll(page, ROOM, count, ctx.quick ? 60_000 : 150_000);
    ctx.log(`scroll: ${label}: ${int(load.loaded)} loaded in ${num(load.seconds, 0)} s`);
    // Through whatever was loaded: to the oldest message, or to the top of the log when paging in stalled.
    const trace = process.env.BENCH_SCROLL_TRACE;
    const tracing = trace === undefined ? undefined : await startTrace(page);
    const work = await mainThreadMetrics(page);
    const scrolled = await scrollThrough(page, load.reached ? historyText(ROOM, 0) : undefined);
    const worked = await work();
    const scripts = Object.entries(scrolled.invokers)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([name, total]) => `${name} ${int(total)} ms`);
    if (scripts.length > 0) ctx.log(`scroll: ${label}: scripts in long frames: ${scripts.join(', ')}`);
    if (tracing !== undefined && trace !== undefined) {
      await tracing(trace);
      ctx.log(`scroll: ${label}: trace of the scroll in ${trace}`);
    }
    const after = await heapAndNodes(page);
    const articles = await page.getByRole('log', { name: 'Messages' }).locator('article').count();
    return {
      label,
      loaded: load.loaded,
      loadSeconds: load.seconds,
      frames: scrolled.frames,
      longFrames: scrolled.long,
      longParts: scrolled.parts,
      work: worked,
      scrolledPx: scrolled.px,
      nodes: after.nodes,
      articles,
      heap: after.heap,
      baseHeap,
      reachedOldest: load.reached,
    };
  } finally {
    await person.context.close();
  }
};

export const scrollGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const count = ctx.quick ? 2000 : 10_000;
  const peerDist = process.env.BENCH_SCROLL_PEER_DIST;
  const builds: [string, string][] = [
    ['this build (virtual list)', new URL('../dist', import.meta.url).pathname],
    ...(peerDist
      ? [[process.env.BENCH_SCROLL_PEER_LABEL ?? 'peer build', peerDist] as [string, string]]
      : []),
  ];
  const began = Date.now();
  const retained = await buildHistory([[ROOM, count]]);
  const writeSeconds = (Date.now() - began) / 1000;
  const broker = await startBenchBroker('bundled');
  const browser = await launchChromium();
  const results: ScrollResult[] = [];
  try {
    await replay(broker.urls.mqtt, retained);
    for (const [label, dir] of builds) {
      const site = await serveStatic(dir, '/mqchat/');
      try {
        results.push(await measure(browser, site.url, broker, label, count, ctx));
      } finally {
        await site.close();
      }
    }
  } finally {
    await browser.close();
    await broker.close();
  }

  const perFrame = (r: ScrollResult, total: number) => num(total / Math.max(1, r.frames.length), 1);
  const per10k = (r: ScrollResult) => ((r.heap - r.baseHeap) * 10_000) / Math.max(1, r.loaded);
  const table: Table = {
    title: `Scrolling a room of ${int(count)} messages in Chromium, through all that was loaded (built app, bundled broker; one run)`,
    columns: [
      'build',
      'messages loaded',
      'oldest reached',
      'paging in by scrolling up',
      'frames',
      'median frame',
      'max frame',
      'p99 frame',
      'frames over 50 ms',
      'long animation frames (> 50 ms)',
      'in them: tasks / frame callbacks / style and layout (forced)',
      'main thread per frame: all / script / layout / style (layouts)',
      'DOM nodes at the end',
      'articles in the DOM',
      'JS heap after GC',
      'empty room',
      'per 10k loaded (target ≤ 5 MB)',
    ],
    rows: results.map((r) => [
      r.label,
      int(r.loaded),
      r.reachedOldest ? 'yes' : 'no',
      `${num(r.loadSeconds, 0)} s`,
      int(r.frames.length),
      ms(percentile(r.frames, 50)),
      ms(Math.max(...r.frames)),
      ms(percentile(r.frames, 99)),
      int(r.frames.filter((f) => f > 50).length),
      int(r.longFrames),
      `${int(r.longParts.script)} / ${int(r.longParts.frameCallbacks)} / ${int(r.longParts.styleAndLayout)} (${int(r.longParts.forcedLayout)}) ms`,
      `${perFrame(r, r.work.task)} / ${perFrame(r, r.work.script)} / ${perFrame(r, r.work.layout)} / ${perFrame(r, r.work.style)} ms (${num(r.work.layouts / Math.max(1, r.frames.length), 1)})`,
      int(r.nodes),
      int(r.articles),
      mb(r.heap),
      mb(r.baseHeap),
      mb(per10k(r)),
    ]),
    numeric: [
      false,
      true,
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      true,
      true,
      true,
      true,
      true,
    ],
  };
  return {
    name: 'scroll',
    title: 'Scrolling through a long history',
    method: [
      `History: a ChatClient over the in-memory broker writes ${int(count)} messages of 40 characters into one room (${num(writeSeconds, 0)} s), 10 s apart; what it leaves retained is published to the bundled broker (its own process) by an MQTT.js client, as in the join group.`,
      'Each build of the app (dist/, served as /mqchat/) is opened in a fresh Chromium context. First it joins an empty room and the JS heap is read (CDP `Runtime.getHeapUsage` after `HeapProfiler.collectGarbage`): the page without messages. Then a new context joins the long room and the bench sets the log\'s `scrollTop` to 0 every 200 ms, as a reader scrolling up does, so the app pages older history in (from its store, then from the broker, HIST-7), until the oldest message is in the DOM; "messages loaded" is what the app then holds in IndexedDB.',
      'Then, from the bottom, a `requestAnimationFrame` loop in the page moves the log up by its own height every frame until the oldest message is in view: a fast, steady fling through every loaded message. "Frames" are the intervals between consecutive animation frames (16.7 ms is a frame on time). Long animation frames (over 50 ms) are counted by a `PerformanceObserver` (`long-animation-frame`), with where their time went: tasks before the frame\'s rendering, frame callbacks (the scroll event, which is where the list renders, `requestAnimationFrame` and ResizeObserver callbacks), and style and layout, with the style and layout that scripts forced in brackets. "Main thread per frame" is the main thread\'s CPU time over the scroll (CDP `Performance.getMetrics` in thread ticks: all tasks, script, layout, style recalculation, and layouts per frame) divided by the frames. At the end: DOM nodes (CDP `Memory.getDOMCounters`), the `article` elements in the log, the JS heap after GC; "per 10k loaded" is the heap less the empty room\'s, scaled to 10,000 messages.',
    ],
    tables: [table],
    notes: [
      'Headless Chromium with software rendering on a shared 2-core machine: frame times include rasterising without a GPU, so they are pessimistic next to a desktop browser.',
      "The heap is the whole page's: the message list holds only what it renders, while the timeline state, the message cache of the chat client (src/core) and IndexedDB's in-memory work hold every loaded message.",
      'Peer, measured once with `--quick` (2,000 messages) and `BENCH_SCROLL_PEER_DIST` set to a build of commit 6690117, the list before it was virtual: paging in stopped at 800 loaded within 120 s (each step up rendered 200 more rows: 570 rows and 25,280 DOM nodes by then), so its frames were not measured; this build loaded all 2,000 in 4 s and scrolled through them with 1,995 DOM nodes (max frame 66.7 ms, p99 50.1 ms, 3 of 242 frames over 50 ms, load average 7.6).',
      "What a long frame was, from a trace of the scroll (`BENCH_SCROLL_TRACE=file`, read in the DevTools performance panel) before issue 6's work: two layouts per frame (one forced when the list put the reader's row back after the scroll step, one more when measured row heights were applied in a later animation frame); 4–5 ms per frame recomputing the rows' offsets at 10,000 rows (a map lookup per row); and per row 5 components and 13 Svelte blocks, and a full date formatted for each time's title. Now heights are applied with the next scroll step (one layout per frame), offsets are a pass over an array (0.2 ms), and a plain row is 4 components and 7 blocks. What is left over 50 ms is mostly garbage collection (scavenges of 40–95 ms when the machine's other load starves V8's parallel collector threads) and scroll steps stretched by the same contention.",
      'Paging in now reaches all 10,000 (older history is read 300 at a time, at most every 250 ms); before, it stalled at about 2,400 within 150 s.',
      ...(peerDist !== undefined
        ? [
            `Peer row: \`BENCH_SCROLL_PEER_DIST\` set to another build of the app (\`npx vite build\` of the commit it names), with \`BENCH_SCROLL_PEER_LABEL\` for its name; both builds were measured in this run, one after the other.`,
          ]
        : []),
      ...(builds.length === 1
        ? [
            'Peer: set `BENCH_SCROLL_PEER_DIST` to another build (for instance the app before the list was virtual, built from an older commit) to measure it the same way.',
          ]
        : []),
      ...(ctx.quick ? [`Quick run: ${int(count)} messages.`] : []),
    ],
  };
};
