import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type Plugin, type ResolvedConfig } from 'vite';

/**
 * The Content-Security-Policy of the built site, as a <meta> (docs/DEPLOY.md: hosts that can send headers
 * should send it as a header, with `frame-ancestors`, which a <meta> cannot carry). Not in dev: Vite's dev
 * server injects inline scripts.
 */
const CSP: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  // Svelte's CSS is a file, and style:, style={...} and transitions go through the CSSOM, which CSP allows.
  // Only a static style="..." attribute in a component would be refused (tests/e2e/deploy.test.ts fails).
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  // Any broker, anywhere: the user types its URL.
  'connect-src': ["'self'", 'ws:', 'wss:'],
  // MQTT.js runs its keepalive timer in a worker made from a blob: URL (worker-timers), so that background
  // tabs, whose timers browsers throttle, still ping the broker in time.
  'worker-src': ["'self'", 'blob:'],
  'manifest-src': ["'self'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'object-src': ["'none'"],
};

const SW_SOURCE = 'src/pwa/sw.ts';
const SW_FILE = 'sw.js';
/** Replaced in the built sw.js by `{ version, files }`; see the Precache type in src/pwa/sw.ts. */
const PRECACHE_PLACEHOLDER = 'self.__MQCHAT_PRECACHE__';

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Every file under `dir`, as `/`-separated paths relative to it, dotfiles left out. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => !path.split(sep).some((part) => part.startsWith('.')))
    .filter((path) => statSync(join(dir, path)).isFile())
    .map((path) => relative(dir, join(dir, path)).split(sep).join('/'));

/**
 * Build only: the CSP <meta>, the manifest links, and src/pwa/sw.ts emitted as dist/sw.js with the list of
 * files to precache (every emitted file and public/ file but source maps, with a version over their
 * hashes) written into it. No workbox: the worker is a hundred lines.
 */
const pwa = (): Plugin => {
  let config: ResolvedConfig;
  return {
    name: 'mqchat-pwa',
    apply: 'build',
    enforce: 'post',
    configResolved(resolved) {
      config = resolved;
    },
    buildStart() {
      this.emitFile({ type: 'chunk', id: resolve(config.root, SW_SOURCE), fileName: SW_FILE });
    },
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        const policy = Object.entries(CSP)
          .map(([directive, sources]) => `${directive} ${sources.join(' ')}`)
          .join('; ');
        const meta = `<meta http-equiv="Content-Security-Policy" content="${policy}" />`;
        // A <meta> policy covers only what comes after it: right after the charset, before any script.
        const charset = /<meta charset[^>]*>/i;
        return {
          html: charset.test(html)
            ? html.replace(charset, (tag) => `${tag}\n    ${meta}`)
            : html.replace(/<head>/i, `<head>\n    ${meta}`),
          tags: [
            { tag: 'link', attrs: { rel: 'manifest', href: './manifest.webmanifest' }, injectTo: 'head' },
            {
              tag: 'link',
              attrs: { rel: 'apple-touch-icon', href: './icons/apple-touch-icon.png' },
              injectTo: 'head',
            },
          ],
        };
      },
    },
    generateBundle(_options, bundle) {
      const sw = bundle[SW_FILE];
      if (sw?.type !== 'chunk') return this.error(`${SW_FILE} was not emitted`);
      // A classic worker script: registering works in every browser, but it can neither import nor export.
      if (sw.imports.length > 0 || sw.dynamicImports.length > 0 || sw.exports.length > 0) {
        return this.error(
          `${SW_SOURCE} must not import or export anything (it is built as a classic script)`,
        );
      }
      const contents = new Map<string, string | Uint8Array>();
      for (const file of Object.values(bundle)) {
        if (
          file.fileName === SW_FILE ||
          file.fileName.endsWith('.map') ||
          file.fileName.startsWith('.vite/')
        ) {
          continue;
        }
        contents.set(file.fileName, file.type === 'chunk' ? file.code : file.source);
      }
      if (config.publicDir !== '' && config.build.copyPublicDir) {
        for (const path of filesUnder(config.publicDir)) {
          contents.set(path, readFileSync(join(config.publicDir, path)));
        }
      }
      if (!contents.has('index.html')) return this.error('index.html is not in the bundle yet');
      const names = [...contents.keys()].sort();
      const version = sha256(
        names.map((name) => `${name} ${sha256(contents.get(name) ?? '')}`).join('\n'),
      ).slice(0, 16);
      // The shell is cached as the directory, which every static host serves as index.html; some hosts
      // redirect `/index.html` itself.
      const files = names.map((name) => (name === 'index.html' ? './' : name));
      const parts = sw.code.split(PRECACHE_PLACEHOLDER);
      if (parts.length !== 2) return this.error(`${PRECACHE_PLACEHOLDER} must occur once in ${SW_SOURCE}`);
      // The source map would point past the list written in: drop it (sw.js is small and stands alone).
      sw.code = parts
        .join(JSON.stringify({ version, files }))
        .replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
      delete bundle[`${SW_FILE}.map`];
    },
  };
};

const require = createRequire(import.meta.url);

/** Modules made up here for the browser build of MQTT.js (see mqttFromSource), by import name. */
const MQTT_SHIMS: Record<string, string> = {
  // Logging off: MQTT.js and mqtt-packet call debug(...) on every packet.
  debug: 'module.exports = () => () => {};',
  // Node's url.parse, the one function MQTT.js uses (lib/connect/index.js), over WHATWG URL.
  url: `exports.parse = (text) => {
  const url = new URL(text);
  const auth = url.username === '' ? null : decodeURIComponent(url.username) + (url.password === '' ? '' : ':' + decodeURIComponent(url.password));
  return { protocol: url.protocol, hostname: url.hostname, port: url.port === '' ? null : url.port, path: url.pathname + url.search, query: Object.fromEntries(url.searchParams), auth };
};`,
  empty: 'module.exports = {};',
};
const SHIM_PREFIX = '\0mqchat-shim:';
/** MQTT.js connectors a page never uses: TCP, TLS and SOCKS (Node), WeChat and Alipay mini-programs. */
const UNUSED_CONNECTORS = new Set(['./tcp', './tls', './socks', './wx', './ali']);

/**
 * Build only: MQTT.js from its Node build (mqtt/build, CommonJS) bundled with the app's own polyfills,
 * instead of its browser bundle (mqtt/dist/mqtt.esm.js, 105 kB gzip). The browser bundle carries a second
 * Buffer (the app has one: mqtt-transport.ts hands MQTT.js Buffers), full `process` and `url` polyfills,
 * the `debug` logger and connectors for TCP, TLS, SOCKS, WeChat and Alipay; without them MQTT.js is
 * about a third smaller. The dev server keeps the browser bundle.
 *
 * What stays: `buffer`, `events`, `process` and `readable-stream` from node_modules, the same packages
 * the browser bundle polyfills with; `ws` resolves to its browser stub through its package.json.
 */
const mqttFromSource = (): Plugin => {
  const nodeBuild = require.resolve('mqtt');
  const mqttRoot = dirname(require.resolve('mqtt/package.json'));
  const version = (JSON.parse(readFileSync(join(mqttRoot, 'package.json'), 'utf8')) as { version: string })
    .version;
  const inMqtt = (importer: string | undefined) => importer?.startsWith(mqttRoot + sep) ?? false;
  return {
    name: 'mqchat-mqtt-from-source',
    apply: 'build',
    enforce: 'pre',
    config: () => ({
      build: {
        rolldownOptions: {
          // Node globals that MQTT.js and its dependencies use without importing them.
          transform: {
            inject: { process: require.resolve('process/browser.js'), Buffer: ['buffer', 'Buffer'] },
          },
        },
      },
    }),
    resolveId(source, importer) {
      if (source === 'mqtt' && !inMqtt(importer)) return nodeBuild;
      // For MQTT.js and mqtt-packet; the app's own code uses neither.
      const fromPackage = importer?.includes(`${sep}node_modules${sep}`) ?? false;
      if (fromPackage && (source === 'debug' || source === 'url')) return SHIM_PREFIX + source;
      if (!inMqtt(importer)) return null;
      if (UNUSED_CONNECTORS.has(source)) return SHIM_PREFIX + 'empty';
      // lib/shared.js reads the version from package.json; not the whole file.
      if (source === '../../package.json') return SHIM_PREFIX + 'version';
      return null;
    },
    load(id) {
      if (!id.startsWith(SHIM_PREFIX)) return null;
      const name = id.slice(SHIM_PREFIX.length);
      return name === 'version'
        ? `module.exports = { version: ${JSON.stringify(version)} };`
        : (MQTT_SHIMS[name] ?? null);
    },
  };
};

export default defineConfig({
  // Relative base: the build works from any sub-path (GitHub Pages serves from /<repo>/).
  base: './',
  plugins: [mqttFromSource(), svelte(), pwa()],
  // The manifest tells bench/page.ts which chunks the entry imports statically (dist/.vite/, not precached).
  build: { target: 'es2022', sourcemap: true, manifest: true },
  server: { host: '127.0.0.1' },
});
