// One broker in a process of its own, so the bench reads that process's RSS and nothing else. Plain
// JavaScript on purpose: a TypeScript loader (tsx) would add its own thread and ~40 MB to the reading.
//
//   node --expose-gc bench/broker-child.js bundled|aedes
//   node --expose-gc bench/broker-child.js bundled <dataDir> <port> <wsPort>   level persistence, fixed ports
//
// Reports { ready, mqtt, ws } (the ports) over IPC once listening; answers { gc: true } with
// { gcDone: true } after a full collection, so idle memory is read without garbage in it, and
// { stats: true } with { stats: {...} }: the bundled broker's slow-subscriber counters (empty for aedes).
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { startBroker } from '../broker/index.js';

/** @param {import('node:net').Server} server */
const listen = (server) =>
  new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port),
    ),
  );

/** The naive recipe from aedes' README: a dozen lines, ws' createWebSocketStream, defaults everywhere. */
const bareAedes = async () => {
  const aedes = await Aedes.createBroker();
  const tcp = createTcpServer(aedes.handle);
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
  return { mqtt: await listen(tcp), ws: await listen(http) };
};

/** @type {Record<string, number>} */
let stats = {};

/**
 * The bundled broker as `npm run broker -- --memory` runs it, minus the logging; or, given a data
 * directory and ports, as `npm run broker` runs it (level persistence), to be killed and restarted.
 * @param {string[]} args
 */
const bundled = async ([dataDir, port, wsPort]) => {
  const broker = await startBroker({
    logger: 'quiet',
    ...(dataDir === undefined
      ? { port: 0, wsPort: 0, memory: true }
      : { dataDir, port: Number(port), wsPort: Number(wsPort) }),
  });
  stats = broker.slowSubscribers;
  return broker.ports;
};

const kind = process.argv[2];
const ports =
  kind === 'aedes'
    ? await bareAedes()
    : kind === 'bundled'
      ? await bundled(process.argv.slice(3))
      : undefined;
if (ports === undefined) throw new Error(`unknown broker kind ${kind}`);

process.on('message', (message) => {
  if (typeof message === 'object' && message !== null && 'gc' in message) {
    /** @type {{ gc?: () => void }} */ (globalThis).gc?.();
    process.send?.({ gcDone: true });
  }
  if (typeof message === 'object' && message !== null && 'stats' in message) {
    process.send?.({ stats: { ...stats } });
  }
});
// The bench owns this process: it ends when the bench goes away or signals.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.send?.({ ready: true, mqtt: ports.mqtt, ws: ports.ws });
