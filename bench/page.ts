import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../tests/helpers/browser.ts';
import { serveStatic } from '../tests/helpers/static-server.ts';
import { median, ms, num, waitFor, type BenchContext, type GroupResult, type Table } from './lib.ts';

const DIST = new URL('../dist/', import.meta.url);
const MANIFEST = new URL('.vite/manifest.json', DIST);

/** The targets of the performance issue, part 6 ("Page"); kB are 1,000 bytes, as Vite prints them. */
const TARGETS = { joinJs: 50_000, allJs: 150_000, interactiveMs: 500 };

/** An entry of Vite's build manifest (`build.manifest` in vite.config.ts). */
interface ManifestChunk {
  file: string;
  isEntry?: boolean;
  imports?: string[];
  dynamicImports?: string[];
  css?: string[];
}

type Phase = 'join screen' | 'later' | 'service worker';

interface Asset {
  file: string;
  phase: Phase;
  raw: number;
  gzip: number;
  brotli: number;
}

const kB = (bytes: number) => `${num(bytes / 1000, 1)} kB`;
const verdict = (met: boolean) => (met ? 'met' : 'not met');

/**
 * What index.html needs before it can paint: its entry chunk, everything that chunk imports statically
 * (transitively; Vite lists those as modulepreload links) and their CSS. Files are relative to dist/.
 */
const joinScreenFiles = (manifest: Record<string, ManifestChunk>): Set<string> => {
  const files = new Set<string>();
  const seen = new Set<string>();
  const visit = (key: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    const chunk = manifest[key];
    if (chunk === undefined) throw new Error(`build manifest: no entry ${key}`);
    files.add(chunk.file);
    for (const css of chunk.css ?? []) files.add(css);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  visit('index.html');
  return files;
};

/** Every JS and CSS file of dist/ (source maps and the manifest left out), compressed both ways. */
const measureAssets = async (): Promise<Asset[]> => {
  if (!existsSync(MANIFEST))
    throw new Error('dist/.vite/manifest.json is missing: run `npx vite build` first');
  const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as Record<string, ManifestChunk>;
  const needed = joinScreenFiles(manifest);
  const names = (await readdir(DIST, { recursive: true, encoding: 'utf8' }))
    .map((name) => name.split('\\').join('/'))
    .filter((name) => /\.(js|css)$/.test(name) && !name.startsWith('.vite/'))
    .sort();
  const assets: Asset[] = [];
  for (const file of names) {
    const bytes = await readFile(new URL(file, DIST));
    assets.push({
      file,
      phase: file === 'sw.js' ? 'service worker' : needed.has(file) ? 'join screen' : 'later',
      raw: bytes.length,
      gzip: gzipSync(bytes, { level: 9 }).length,
      brotli: brotliCompressSync(bytes, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        },
      }).length,
    });
  }
  for (const file of needed)
    if (/\.(js|css)$/.test(file) && !assets.some((asset) => asset.file === file))
      throw new Error(`build manifest names ${file}, which is not in dist/`);
  return assets;
};

interface LoadResult {
  /** Navigation start → first contentful paint. */
  fcp: number;
  /** Navigation start → the Join button is in the page, enabled, and the app handles a click on it. */
  interactive: number;
  /** Navigation start → the app's answer to that click (the name field marked invalid) is in the DOM. */
  answered: number;
  /** Navigation start → the last of the page's JS files (lazy chunks included) has arrived. */
  allJs: number;
  /** Bytes of JS (uncompressed: the test server does not compress) fetched before `interactive`. */
  jsBeforeInteractive: number;
}

/**
 * Runs in the page before any of its scripts (an init script, so a string: see pageHelpers in lib.ts).
 * On every DOM change it looks for the Join button; once it is there and enabled, it clicks it at once.
 * The form is empty in a fresh profile, so the app's submit handler refuses it and marks the name field
 * invalid: the click counts only if the app handled it (the event's default was prevented by then), and
 * the time of the answer is when the invalid field is in the DOM. A click the app did not handle yet
 * (the handler not attached) is cancelled here, so the page does not navigate, and tried again later.
 */
const PROBE = `(() => {
  const state = { interactive: 0, answered: 0 };
  window.__pageBench = state;
  let handled = false;
  window.addEventListener('submit', (event) => {
    handled = event.defaultPrevented;
    if (!handled) event.preventDefault();
  });
  const check = () => {
    if (state.interactive === 0) {
      const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Join');
      if (button === undefined || button.disabled) return;
      const at = performance.now();
      handled = false;
      button.click();
      if (!handled) return;
      state.interactive = at;
    }
    if (state.answered === 0 && document.querySelector('#join-name[aria-invalid="true"]') !== null) {
      state.answered = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { subtree: true, childList: true, attributes: true });
})();`;

/**
 * The floor under the app's figure: a page whose one tiny module script builds a form with a Join button
 * that answers like the app's, so the same probe measures it. What is left is the browser's own cost of
 * a new tab (a renderer process, parsing, one script) on this machine at this moment.
 */
const FLOOR_HTML = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>floor</title><script type="module" src="./floor.js"></script></head>
  <body></body>
</html>
`;
const FLOOR_JS = `const form = document.createElement('form');
form.innerHTML = '<input id="join-name" /><button>Join</button>';
form.addEventListener('submit', (event) => {
  event.preventDefault();
  form.querySelector('#join-name').setAttribute('aria-invalid', 'true');
});
document.body.append(form);
`;

const serveFloor = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mqchat-floor-'));
  await writeFile(join(dir, 'index.html'), FLOOR_HTML);
  await writeFile(join(dir, 'floor.js'), FLOOR_JS);
  const site = await serveStatic(dir, '/mqchat/');
  return {
    url: site.url,
    close: async () => {
      await site.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

interface BenchWindow {
  __pageBench?: { interactive: number; answered: number };
}

/** One cold load: a fresh context (empty HTTP cache, no service worker, empty IndexedDB). */
const measureLoad = async (browser: Browser, url: string, jsFiles: string[]): Promise<LoadResult> => {
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    await context.addInitScript(PROBE);
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => ((window as BenchWindow).__pageBench?.answered ?? 0) > 0, undefined, {
      timeout: 30_000,
      polling: 20,
    });
    // The lazy chunks are fetched after the join screen is painted; wait until all have arrived.
    const arrived = () =>
      page.evaluate((files) => {
        const loaded = performance
          .getEntriesByType('resource')
          .filter((entry): entry is PerformanceResourceTiming => entry instanceof PerformanceResourceTiming)
          .filter((entry) => files.some((file) => entry.name.endsWith(`/${file}`)) && entry.responseEnd > 0);
        return loaded.length >= files.length;
      }, jsFiles);
    await waitFor(arrived, 'every JS file of the page', 15_000);
    return await page.evaluate((files) => {
      const bench = (window as BenchWindow).__pageBench!;
      const scripts = performance
        .getEntriesByType('resource')
        .filter((entry): entry is PerformanceResourceTiming => entry instanceof PerformanceResourceTiming)
        .filter((entry) => files.some((file) => entry.name.endsWith(`/${file}`)));
      const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN;
      return {
        fcp,
        interactive: bench.interactive,
        answered: bench.answered,
        allJs: Math.max(...scripts.map((entry) => entry.responseEnd)),
        jsBeforeInteractive: scripts
          .filter((entry) => entry.responseEnd <= bench.interactive)
          .reduce((sum, entry) => sum + entry.decodedBodySize, 0),
      } satisfies LoadResult;
    }, jsFiles);
  } finally {
    await context.close();
  }
};

export const pageGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const runs = ctx.runs(5);
  const assets = await measureAssets();
  const pageJs = assets
    .filter((a) => a.file.endsWith('.js') && a.phase !== 'service worker')
    .map((a) => a.file);
  const site = await serveStatic(new URL('.', DIST).pathname, '/mqchat/');
  const floor = await serveFloor();
  const browser = await launchChromium();
  const loads: LoadResult[] = [];
  const floors: LoadResult[] = [];
  try {
    // The app and the floor take turns, so that both see the same machine.
    for (let run = 0; run < runs; run++) {
      loads.push(await measureLoad(browser, site.url, pageJs));
      floors.push(await measureLoad(browser, floor.url, ['floor.js']));
      ctx.log(
        `page: load ${run + 1}/${runs}: interactive at ${ms(loads.at(-1)!.interactive)} (floor ${ms(floors.at(-1)!.interactive)})`,
      );
    }
  } finally {
    await browser.close();
    await site.close();
    await floor.close();
  }

  const sum = (filter: (asset: Asset) => boolean, field: 'raw' | 'gzip' | 'brotli') =>
    assets.filter(filter).reduce((total, asset) => total + asset[field], 0);
  const isJs = (asset: Asset) => asset.file.endsWith('.js');
  const isCss = (asset: Asset) => asset.file.endsWith('.css');
  const joinJs = (asset: Asset) => isJs(asset) && asset.phase === 'join screen';
  const pick = (field: keyof LoadResult) => median(loads.map((load) => load[field]));
  const range2 = (values: number[]) => `${num(Math.min(...values), 0)}–${num(Math.max(...values), 0)} ms`;
  const range = (field: keyof LoadResult) => range2(loads.map((load) => load[field]));

  const files: Table = {
    title: 'Every JS and CSS file of dist/ (kB = 1,000 bytes)',
    columns: ['file', 'loaded', 'bytes', 'gzip -9', 'brotli -11'],
    rows: [
      ...[...assets]
        .sort((a, b) => a.phase.localeCompare(b.phase) || b.gzip - a.gzip)
        .map((asset) => [
          `\`${asset.file}\``,
          asset.phase === 'join screen'
            ? 'to paint the join screen'
            : asset.phase === 'later'
              ? 'later (dynamic import)'
              : 'after load (service worker)',
          kB(asset.raw),
          kB(asset.gzip),
          kB(asset.brotli),
        ]),
      ...(
        [
          ['JS to paint the join screen', joinJs],
          ['JS loaded later (page and service worker)', (a: Asset) => isJs(a) && !joinJs(a)],
          ['all JS', isJs],
          ['CSS to paint the join screen', (a: Asset) => isCss(a) && a.phase === 'join screen'],
          ['all CSS', isCss],
        ] as const
      ).map(([label, filter]) => [
        `**${label}**`,
        '',
        kB(sum(filter, 'raw')),
        kB(sum(filter, 'gzip')),
        kB(sum(filter, 'brotli')),
      ]),
    ],
    numeric: [false, false, true, true, true],
  };

  const joinGzip = sum(joinJs, 'gzip');
  const allGzip = sum(isJs, 'gzip');
  const interactive = pick('interactive');
  const targets: Table = {
    title: `Against the targets (load times: median of ${runs} cold loads)`,
    columns: ['what', 'figure', 'target', ''],
    rows: [
      [
        'JS to paint the join screen, gzip -9',
        kB(joinGzip),
        `≤ ${kB(TARGETS.joinJs)}`,
        verdict(joinGzip <= TARGETS.joinJs),
      ],
      ['all JS, gzip -9', kB(allGzip), `≤ ${kB(TARGETS.allJs)}`, verdict(allGzip <= TARGETS.allJs)],
      [
        'navigation start → interactive (127.0.0.1)',
        ms(interactive),
        `≤ ${ms(TARGETS.interactiveMs)}`,
        verdict(interactive <= TARGETS.interactiveMs),
      ],
    ],
    numeric: [false, true, true, false],
  };

  const timeline: Table = {
    title: `A cold load in Chromium, from navigation start (median of ${runs}, and the range)`,
    columns: ['moment', 'median', 'range'],
    rows: [
      ['first contentful paint', ms(pick('fcp')), range('fcp')],
      [
        'interactive: the Join button is there and the app handles a click on it',
        ms(interactive),
        range('interactive'),
      ],
      ['the app’s answer to that click is in the DOM', ms(pick('answered')), range('answered')],
      ['every JS file of the page has arrived (lazy chunks included)', ms(pick('allJs')), range('allJs')],
      ['JS fetched before interactive (uncompressed)', kB(pick('jsBeforeInteractive')), ''],
      [
        'floor: a one-script page with a Join button, interactive',
        ms(median(floors.map((load) => load.interactive))),
        range2(floors.map((load) => load.interactive)),
      ],
      [
        'the app’s own share: interactive minus the floor of the same run',
        ms(median(loads.map((load, i) => load.interactive - floors[i]!.interactive))),
        range2(loads.map((load, i) => load.interactive - floors[i]!.interactive)),
      ],
    ],
    numeric: [false, true, true],
  };

  return {
    name: 'page',
    title: 'Page weight and time to interactive',
    method: [
      'Sizes: every `.js` and `.css` file of `dist/` (build it first: `npx vite build`), compressed with Node’s zlib at gzip level 9 and brotli quality 11, as a static host that compresses would send them. A file counts as needed **to paint the join screen** when it is `index.html`’s entry chunk, a chunk that the entry imports statically (transitively: Vite lists them as `modulepreload` links) or their CSS, read from Vite’s build manifest (`dist/.vite/manifest.json`); everything else is loaded **later**, by a dynamic `import()`, and `sw.js` by the service worker registration after the `load` event. kB are 1,000 bytes.',
      `Time to interactive: ${runs} cold loads of the built app, served as /mqchat/ by the tests’ static server (tests/helpers/static-server.ts, no compression, no cache headers) on 127.0.0.1, each in a fresh Chromium context (empty HTTP cache, no service worker, empty IndexedDB, so boot makes a new identity and DM key). Times are \`performance.now()\` in the page, whose zero is navigation start. **Interactive** is the first moment the Join button is in the page, enabled, and a click on it is handled by the app: a script injected before the page’s own watches every DOM change, clicks Join as soon as it appears, and counts the click only if the app’s submit handler prevented the form’s default (otherwise it cancels it and tries again on the next change). The form is empty in a fresh profile, so the app refuses it and marks the name field invalid; when that is in the DOM is **the answer**. Chromium runs headless with \`--no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync\` (tests/helpers/browser.ts).`,
    ],
    tables: [targets, files, timeline],
    notes: [
      'On 127.0.0.1 the network costs almost nothing: the load time is the browser opening a tab (the floor), then parsing, compiling and running the JS, creating the IndexedDB database (a first visit), and WebCrypto making the identity (Ed25519) and DM key (X25519). Over a real network the compressed sizes above add their transfer time.',
      'The floor is measured with the same probe on a page served the same way, whose one module script of a few lines builds a form with a Join button that answers like the app’s; the app and the floor load in turns. On a shared machine the floor moves with the load; the app’s own share moves less.',
      '"Every JS file of the page has arrived" is when the last lazy chunk finished downloading (Resource Timing `responseEnd`); the app starts fetching them once the join screen is painted, so a Join click does not wait for them.',
      ...(ctx.quick ? ['Quick run: one load.'] : []),
    ],
  };
};
