import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { tempDir } from './real.ts';

const CLI = fileURLToPath(new URL('../../broker/cli.js', import.meta.url));
const READY = /^mqchat broker: (mqtt:\/\/\S+)\s+(ws:\/\/\S+)/m;

/** A port that was free a moment ago: the kernel picks it, we release it for the child to bind. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

export interface BrokerProcess {
  /** Stable across restarts: the same ports every time. */
  readonly urls: { mqtt: string; ws: string };
  readonly ports: { mqtt: number; ws: number };
  readonly dataDir: string;
  readonly running: boolean;
  /** How many times the broker was started (1 after spawnBroker). */
  readonly starts: number;
  /** stdout and stderr of every run, for a failing test's message. */
  readonly output: string[];
  /** SIGKILL: no graceful close, no flush beyond what the OS already has; resolves once it exited. */
  kill(): Promise<void>;
  /** Starts the CLI again on the same ports and data directory; resolves once it listens. */
  restart(): Promise<void>;
  /** Kills it and removes the data directory if this helper made it. */
  close(): Promise<void>;
}

/**
 * The bundled broker as a child process (`node broker/cli.js`) with persistence on disk, for faults
 * an in-process broker cannot suffer: SIGKILL mid-write, then a restart on the same ports and data
 * directory, as a supervisor (systemd, Docker's restart policy) would do.
 */
export const spawnBroker = async (
  options: { dataDir?: string; args?: string[]; readyTimeout?: number } = {},
): Promise<BrokerProcess> => {
  const owned = options.dataDir === undefined ? await tempDir() : undefined;
  const dataDir = options.dataDir ?? owned!.dir;
  const ports = { mqtt: await freePort(), ws: await freePort() };
  const output: string[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let starts = 0;

  const startOnce = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(
        process.execPath,
        [
          CLI,
          '--port',
          String(ports.mqtt),
          '--ws-port',
          String(ports.ws),
          '--data-dir',
          dataDir,
          '--quiet',
          ...(options.args ?? []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = proc;
      exited = new Promise((done) => proc.once('exit', () => done()));
      let stdout = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(
          new Error(`broker did not start within ${options.readyTimeout ?? 10_000} ms:\n${output.join('')}`),
        );
      }, options.readyTimeout ?? 10_000);
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output.push(chunk);
        stdout += chunk;
        if (READY.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`broker exited (${code ?? signal}) before listening:\n${output.join('')}`));
      });
    });

  const start = async () => {
    // A port released by a killed process is free at once (listening sockets leave no TIME_WAIT), but
    // retry a few times in case another process grabbed it for a moment.
    for (let attempt = 0; ; attempt++) {
      try {
        await startOnce();
        starts += 1;
        return;
      } catch (error) {
        if (attempt >= 4 || !/EADDRINUSE/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };

  const kill = async () => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    urls: { mqtt: `mqtt://127.0.0.1:${ports.mqtt}`, ws: `ws://127.0.0.1:${ports.ws}` },
    ports,
    dataDir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    get starts() {
      return starts;
    },
    output,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    close: async () => {
      await kill();
      await owned?.remove();
    },
  };
};
