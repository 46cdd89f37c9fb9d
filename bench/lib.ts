import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

/** What every group receives: how many runs to take the median of, and whether this is a smoke run. */
export interface BenchContext {
  /** Runs to take the median of: `--runs` if given, 1 with `--quick`, else the group's own default. */
  runs: (groupDefault: number) => number;
  quick: boolean;
  log: (line: string) => void;
}

/** One table of results; cells are already formatted. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** Cells of these columns are right-aligned (numbers). Defaults to every column but the first. */
  numeric?: boolean[];
}

export interface GroupResult {
  name: string;
  title: string;
  /** What was measured and how, in a few sentences of Markdown. */
  method: string[];
  tables: Table[];
  /** Caveats, scale-downs and explanations of the figures. */
  notes: string[];
}

export type Group = (ctx: BenchContext) => Promise<GroupResult>;

// ---- statistics ------------------------------------------------------------------------------

export const median = (values: readonly number[]): number => {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
};

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
};

// ---- formatting ------------------------------------------------------------------------------

/** 12345.6 → "12,346"; small values keep a few significant digits; NaN → "–". */
export const num = (value: number, digits?: number): string => {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const fraction = digits ?? (abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
  return value.toLocaleString('en-US', { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
};

/** A count: no decimals. */
export const int = (value: number): string => num(value, 0);

export const ms = (value: number): string => (Number.isFinite(value) ? `${num(value)} ms` : '–');

export const mb = (kib: number): string => (Number.isFinite(kib) ? `${num(kib / 1024, 1)} MB` : '–');

/** A ratio as "1.23×"; "–" when either side is missing. */
export const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–';

const pad = (text: string, width: number, right: boolean): string =>
  right ? text.padStart(width) : text.padEnd(width);

/** A plain-text table for the terminal. */
export const textTable = (table: Table): string => {
  const numeric = table.numeric ?? table.columns.map((_, i) => i > 0);
  const all = [table.columns, ...table.rows];
  const widths = table.columns.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? '')].length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => pad(cell, widths[i]! + cell.length - [...cell].length, numeric[i] ?? false))
      .join('  ');
  return [
    table.title,
    line(table.columns),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
  ].join('\n');
};

/** A GitHub Markdown table. */
export const markdownTable = (table: Table): string => {
  const numeric = table.numeric ?? table.columns.map((_, i) => i > 0);
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  return [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `| ${table.columns.map((_, i) => (numeric[i] ? '---:' : '---')).join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
};

// ---- processes and machine -------------------------------------------------------------------

const run = promisify(execFile);

/** Resident set size now and at its peak (VmHWM) of a process, in KiB, from /proc (Linux). */
export const processMemory = async (pid: number): Promise<{ rss: number; peak: number }> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
};

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat (Linux, 100 Hz ticks). */
export const processCpuMs = async (pid: number): Promise<number> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** Runs a JavaScript file of bench/ in its own Node process with an IPC channel. */
export const spawnNode = (file: string, args: string[], nodeFlags: string[] = []): ChildProcess =>
  spawn(process.execPath, [...nodeFlags, new URL(file, import.meta.url).pathname, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

/** The next IPC message from `child` that satisfies `accept`. */
export const nextMessage = <T>(
  child: ChildProcess,
  accept: (message: unknown) => message is T,
  timeout = 30_000,
) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('child process did not answer')), timeout);
    const onMessage = (message: unknown) => accept(message) && done(undefined, message);
    const onExit = (code: number | null) => done(new Error(`child process exited with ${code}`));
    const done = (error?: Error, message?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });

export const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
};

const packageVersion = async (name: string): Promise<string> => {
  const path = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return ((JSON.parse(await readFile(path, 'utf8')) as { version?: string }).version ?? '?').trim();
};

const firstLine = async (file: string, args: string[]): Promise<string> => {
  try {
    const { stdout } = await run(file, args);
    return stdout.split('\n')[0]?.trim() ?? '?';
  } catch (error) {
    // `mosquitto -h` prints its usage and exits 3.
    const stdout = (error as { stdout?: string }).stdout ?? '';
    return stdout.split('\n')[0]?.trim() || 'not found';
  }
};

export const MOSQUITTO = process.env.MOSQUITTO_PATH ?? '/usr/sbin/mosquitto';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The machine and the versions of everything measured, for the report's header. */
export const machineInfo = async (): Promise<[string, string][]> => {
  const cpu = cpus();
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? process.platform;
  return [
    ['CPU', `${cpu[0]?.model.trim() ?? '?'}`],
    ['Cores', `${cpu.length} (load generator, brokers and browsers share them)`],
    ['Memory', `${num(totalmem() / 2 ** 30, 1)} GiB`],
    ['OS', `${distro}, Linux ${release()}`],
    ['Node', process.version],
    ['Chromium', (await firstLine(CHROMIUM, ['--version'])).replace(/ built on.*/, '')],
    ['Mosquitto', (await firstLine(MOSQUITTO, ['-h'])).replace(/^mosquitto version /i, '')],
    ['aedes', await packageVersion('aedes')],
    ['MQTT.js', await packageVersion('mqtt')],
    ['ws', await packageVersion('ws')],
    ['Playwright', await packageVersion('playwright-core')],
  ];
};

// ---- pages ----------------------------------------------------------------------------------

/**
 * tsx compiles bench files with esbuild's keepNames, which wraps named inner functions in `__name(…)`;
 * functions handed to page.evaluate carry that call into the page, so the page needs the helper too.
 */
export const pageHelpers = (page: { evaluate: (script: string) => Promise<unknown> }) =>
  page.evaluate('globalThis.__name ??= (fn) => fn');

// ---- misc ------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 20 ms until it holds; throws with `what` after `timeout` ms. */
export const waitFor = async (
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 30_000,
): Promise<void> => {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

/** Runs `work` over `items` with at most `limit` in flight. */
export const pool = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, i: number) => Promise<R>,
) => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
};
