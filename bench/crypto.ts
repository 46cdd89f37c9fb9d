import { build } from 'vite';
import { launchChromium } from '../tests/helpers/browser.ts';
import { OPERATIONS, runCryptoOps, type CryptoRates, type Operation } from './crypto-ops.ts';
import { median, num, ratio, type BenchContext, type GroupResult, type Table } from './lib.ts';

const PARALLEL = 64;

/** bench/crypto-ops.ts and the src/protocol modules it imports, as one script for a page. */
const bundleForBrowser = async (): Promise<string> => {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    root: new URL('..', import.meta.url).pathname,
    build: {
      write: false,
      minify: false,
      lib: {
        entry: new URL('./crypto-ops.ts', import.meta.url).pathname,
        formats: ['iife'],
        name: 'mqchatBench',
      },
    },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as {
    output?: { type: string; code?: string }[];
  }[];
  const chunk = outputs[0]?.output?.find((item) => item.type === 'chunk');
  if (chunk?.code === undefined) throw new Error('could not bundle bench/crypto-ops.ts');
  return chunk.code;
};

const LABELS: Record<Operation, string> = {
  keygen: 'identity key pair (Ed25519 generate + export)',
  sign: 'sign a 40-character message envelope',
  verify: 'verify it (signer key cached)',
  seal: 'seal a DM (sign + 2 × X25519/HKDF/AES-GCM)',
  open: 'open a DM (X25519/HKDF/AES-GCM + verify)',
};

export const cryptoGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const runs = ctx.runs(5);
  const budgetMs = ctx.quick ? 100 : 300;
  const script = await bundleForBrowser();
  const browser = await launchChromium();
  const node: CryptoRates[] = [];
  const chromium: CryptoRates[] = [];
  try {
    const page = await browser.newPage();
    // A secure context (127.0.0.1) for WebCrypto, served from memory: no server, no app code.
    await page.route('http://127.0.0.1/bench', (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' }),
    );
    await page.goto('http://127.0.0.1/bench');
    await page.addScriptTag({ content: script });
    // Warm-up (JIT, thread pools, the browser settling after launch), not counted.
    await runCryptoOps(50, PARALLEL);
    await page.evaluate(
      (width) =>
        (
          globalThis as unknown as {
            mqchatBench: { runCryptoOps: (b: number, w: number) => Promise<unknown> };
          }
        ).mqchatBench.runCryptoOps(50, width),
      PARALLEL,
    );
    for (let run = 0; run < runs; run++) {
      node.push(await runCryptoOps(budgetMs, PARALLEL));
      chromium.push(
        await page.evaluate(
          ([budget, width]) =>
            (
              globalThis as unknown as {
                mqchatBench: { runCryptoOps: (b: number, w: number) => Promise<CryptoRates> };
              }
            ).mqchatBench.runCryptoOps(budget, width),
          [budgetMs, PARALLEL] as const,
        ),
      );
    }
  } finally {
    await browser.close();
  }
  const pick = (runs: CryptoRates[], op: Operation, mode: 'serial' | 'parallel') =>
    median(runs.map((r) => r[op][mode]));
  const table: Table = {
    title: `Operations per second (median of ${runs}; one awaited at a time / ${PARALLEL} at a time)`,
    columns: [
      'operation',
      'Node, 1 at a time',
      `Node, ${PARALLEL} at a time`,
      'Chromium, 1 at a time',
      `Chromium, ${PARALLEL} at a time`,
      `Chromium ÷ Node (${PARALLEL} at a time)`,
    ],
    rows: OPERATIONS.map((op) => [
      LABELS[op],
      num(pick(node, op, 'serial')),
      num(pick(node, op, 'parallel')),
      num(pick(chromium, op, 'serial')),
      num(pick(chromium, op, 'parallel')),
      ratio(pick(chromium, op, 'parallel'), pick(node, op, 'parallel')),
    ]),
  };
  return {
    name: 'crypto',
    title: 'Crypto: sign, verify, seal and open',
    method: [
      `The same loops (bench/crypto-ops.ts) over the real src/protocol functions: \`generateIdentity\`, \`signEnvelope\` and \`verifyEnvelope\` on a 40-character room message, \`sealDirect\` and \`openDirect\` on a 40-character DM. In Node they are imported directly; for Chromium, Vite bundles the same file into one script, run in a blank page on 127.0.0.1 (a secure context) by \`page.evaluate\`. Each operation runs for ${budgetMs} ms one awaited at a time, then ${budgetMs} ms in batches of ${PARALLEL} (\`Promise.all\`), which is how a burst of history arrives.`,
    ],
    tables: [table],
    notes: [
      '`sealDirect` seals every DM twice (the recipient\'s inbox and the sender\'s own copy, rule DM-4), and signs it once; one "seal" above is one DM sent.',
      "Verification imports each signer's public key once and caches it (src/protocol/keys.ts), as in a room where a few people write many messages.",
      'WebCrypto runs Ed25519 and X25519 off the main thread in both Node (libuv pool) and Chromium, so the parallel column shows what a burst can reach, the serial one the cost of a single operation.',
    ],
  };
};
