import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../tests/helpers/mosquitto.ts';
import { tempDir } from '../tests/helpers/real.ts';
import { MOSQUITTO, nextMessage, spawnNode, stopChild, waitFor } from './lib.ts';

export type BrokerKind = 'bundled' | 'aedes' | 'mosquitto';

export const BROKER_LABELS: Record<BrokerKind, string> = {
  bundled: 'bundled (broker/)',
  aedes: 'bare aedes',
  mosquitto: 'Mosquitto',
};

/** A broker in its own process: where to connect, whose RSS to read, how to stop it. */
export interface BenchBroker {
  kind: BrokerKind;
  pid: number;
  urls: { mqtt: string; ws: string };
  /** Full garbage collection in a Node broker before a memory reading; nothing for Mosquitto. */
  gc: () => Promise<void>;
  /** The bundled broker's slow-subscriber counters (broker/slow-subscribers.js); empty for the others. */
  stats: () => Promise<Record<string, number>>;
  close: () => Promise<void>;
}

/** A bundled broker on level persistence at fixed ports, which can be killed and started again. */
export interface RestartableBroker extends BenchBroker {
  /** SIGKILL: no will is published, nothing is closed cleanly (a crash). */
  kill: () => Promise<void>;
}

const isReady = (message: unknown): message is { ready: true; mqtt: number; ws: number } =>
  typeof message === 'object' && message !== null && 'ready' in message;
const isGcDone = (message: unknown): message is { gcDone: true } =>
  typeof message === 'object' && message !== null && 'gcDone' in message;
const isStats = (message: unknown): message is { stats: Record<string, number> } =>
  typeof message === 'object' && message !== null && 'stats' in message;

const nodeBroker = async (kind: 'bundled' | 'aedes', args: string[] = []): Promise<RestartableBroker> => {
  const child = spawnNode('./broker-child.js', [kind, ...args], ['--expose-gc']);
  const ports = await nextMessage(child, isReady);
  return {
    kind,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    pid: child.pid!,
    urls: { mqtt: `mqtt://127.0.0.1:${ports.mqtt}`, ws: `ws://127.0.0.1:${ports.ws}` },
    gc: async () => {
      const done = nextMessage(child, isGcDone);
      child.send({ gc: true });
      await done;
    },
    stats: async () => {
      const answer = nextMessage(child, isStats);
      child.send({ stats: true });
      return (await answer).stats;
    },
    close: () => stopChild(child),
  };
};

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Mosquitto 2.0 as tests/helpers/mosquitto.ts starts it (defaults, anonymous, no persistence, a TCP and
 * a WebSocket listener on free loopback ports), but keeping the process id for memory readings.
 */
const mosquitto = async (): Promise<BenchBroker> => {
  const { dir, remove } = await tempDir();
  const [port, wsPort] = [await freePort(), await freePort()];
  const config = join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [
      'allow_anonymous true',
      'persistence false',
      `listener ${port} 127.0.0.1`,
      `listener ${wsPort} 127.0.0.1`,
      'protocol websockets',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitFor(
    async () => (await listening(port)) && (await listening(wsPort)),
    'mosquitto to listen',
    10_000,
  );
  return {
    kind: 'mosquitto',
    pid: child.pid!,
    urls: { mqtt: `mqtt://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${wsPort}` },
    gc: async () => undefined,
    stats: async () => ({}),
    close: async () => {
      await stopChild(child);
      await remove();
    },
  };
};

export const startBenchBroker = (kind: BrokerKind): Promise<BenchBroker> =>
  kind === 'mosquitto' ? mosquitto() : nodeBroker(kind);

/**
 * The bundled broker with level persistence in `dataDir` on the given ports (0 = free ones), in its own
 * process; start it again with the same directory and ports after `kill()` to restart it.
 */
export const startPersistentBroker = (dataDir: string, ports = { mqtt: 0, ws: 0 }) =>
  nodeBroker('bundled', [dataDir, String(ports.mqtt), String(ports.ws)]);
