// The mqchat broker: aedes over TCP and WebSocket, with level persistence, limits against hostile
// clients, and the retention sweep for room history. No side effects on import; see cli.js to run it.

import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createTcpServer } from 'node:net';
import { Aedes } from 'aedes';
import { Level } from 'level';
import { WebSocketServer } from 'ws';
import { OptionError } from './errors.js';
import { createPacketSizeGuard } from './packet-guard.js';
import { resolveRetention, sweepRetained } from './retention.js';
import { WebSocketDuplex } from './ws-stream.js';

/** @typedef {'debug' | 'info' | 'warn' | 'error'} LogLevel */
/** @typedef {(level: LogLevel, message: string) => void} Logger */
/** @typedef {import('./retention.js').RetentionOptions} RetentionOptions */
/** @typedef {import('./retention.js').SweepResult} SweepResult */

/**
 * Options of {@link startBroker}; every one is optional.
 * @typedef {object} BrokerOptions
 * @property {string} [host] interface for both listeners; default '127.0.0.1'
 * @property {number} [port] MQTT over TCP; default 1883, 0 picks a free port
 * @property {number} [wsPort] MQTT over WebSocket; default 8888, 0 picks a free port
 * @property {string} [wsPath] accept WebSocket upgrades only on this path; default: any path ('/', '/mqtt', …)
 * @property {string} [dataDir] level database directory; default '.data/broker'
 * @property {boolean} [memory] keep everything in memory instead of `dataDir`; default false
 * @property {number} [maxPacketSize] largest MQTT packet a client may send, in bytes; default 262144
 * @property {number} [maxTopicLevels] most `/`-separated levels in a topic or filter; default 16, at most 100
 * @property {number} [connectTimeout] ms a new connection has to send CONNECT; default 10000
 * @property {number} [drainTimeout] ms a slow subscriber may block delivery before it is dropped; default 60000
 * @property {number} [heartbeatInterval] ms between aedes $SYS heartbeats; default 60000
 * @property {Logger | 'quiet'} [logger] receives log lines; default: warnings and errors to stderr
 * @property {RetentionOptions | false} [retention] room history retention; default 30 days, false turns it off
 */

/**
 * @typedef {object} RunningBroker
 * @property {{ mqtt: string, ws: string }} urls where clients connect (the WebSocket accepts any path)
 * @property {{ mqtt: number, ws: number }} ports the ports actually bound
 * @property {import('aedes').Aedes} aedes
 * @property {() => Promise<SweepResult>} sweepRetained runs the retention sweep now (no-op if retention is off)
 * @property {() => Promise<void>} close resolves once listeners, connections and persistence are closed
 */

export { OptionError };

/**
 * aedes-persistence-level is CommonJS and ships no types; require() it with the one signature we use
 * instead of a declaration file, which tsconfig.node.json (it includes broker JS files only) would miss.
 * @type {(db: Level) => unknown}
 */
const aedesPersistenceLevel = createRequire(import.meta.url)('aedes-persistence-level');

export const BROKER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 1883,
  wsPort: 8888,
  dataDir: '.data/broker',
  maxPacketSize: 256 * 1024,
  maxTopicLevels: 16,
  connectTimeout: 10_000,
});

/**
 * A WebSocket message may carry more than one MQTT packet; this much beyond `maxPacketSize` is allowed per
 * frame so a client batching a few small packets with a big one is not cut off. The byte guard still limits
 * each packet to `maxPacketSize`.
 */
const WS_FRAME_ALLOWANCE = 4096;

/**
 * Starts aedes with TCP and WebSocket listeners.
 * @param {BrokerOptions} [options]
 * @returns {Promise<RunningBroker>}
 */
export async function startBroker(options = {}) {
  const config = resolveOptions(options);
  const log = makeLogger(options.logger);
  const retention = resolveRetention(options.retention);
  const db = config.memory ? undefined : await openDatabase(config.dataDir);

  /** @type {import('aedes').Aedes} */
  let aedes;
  try {
    aedes = await Aedes.createBroker(aedesOptions(config, db));
  } catch (error) {
    await db?.close();
    throw error;
  }
  watchAedes(aedes, log);

  const listeners = createListeners(aedes, config, log);
  /** @type {{ mqtt: number, ws: number }} */
  let ports;
  try {
    ports = await listeners.listen();
  } catch (error) {
    await listeners.stop();
    await closeAedes(aedes);
    await closePersistence(aedes);
    throw error;
  }
  const sweeper = retention ? await startSweeper(aedes, retention, log) : undefined;

  /** @type {Promise<void> | undefined} */
  let closing;
  const close = () => {
    closing ??= (async () => {
      await sweeper?.stop();
      const stopped = listeners.stop();
      await closeAedes(aedes);
      // Connections that never sent CONNECT are not aedes clients, so aedes.close() leaves them open.
      listeners.destroySockets();
      await stopped;
      await closePersistence(aedes);
    })();
    return closing;
  };

  return {
    urls: {
      mqtt: `mqtt://${urlHost(config.host)}:${ports.mqtt}`,
      ws: `ws://${urlHost(config.host)}:${ports.ws}`,
    },
    ports,
    aedes,
    sweepRetained: sweeper ? sweeper.sweep : async () => ({ scanned: 0, deleted: 0 }),
    close,
  };
}

/**
 * @typedef {ReturnType<typeof resolveOptions>} ResolvedOptions
 */

/**
 * Applies defaults and rejects values that would silently misbehave.
 * @param {BrokerOptions} options
 */
export function resolveOptions(options) {
  const config = {
    host: options.host ?? BROKER_DEFAULTS.host,
    port: options.port ?? BROKER_DEFAULTS.port,
    wsPort: options.wsPort ?? BROKER_DEFAULTS.wsPort,
    wsPath: options.wsPath,
    dataDir: options.dataDir ?? BROKER_DEFAULTS.dataDir,
    memory: options.memory ?? false,
    maxPacketSize: options.maxPacketSize ?? BROKER_DEFAULTS.maxPacketSize,
    maxTopicLevels: options.maxTopicLevels ?? BROKER_DEFAULTS.maxTopicLevels,
    connectTimeout: options.connectTimeout ?? BROKER_DEFAULTS.connectTimeout,
    drainTimeout: options.drainTimeout,
    heartbeatInterval: options.heartbeatInterval,
  };
  assertInteger('port', config.port, 0, 65_535);
  assertInteger('wsPort', config.wsPort, 0, 65_535);
  // 5 bytes is the smallest useful packet (a CONNECT is bigger; this only rules out nonsense).
  assertInteger('maxPacketSize', config.maxPacketSize, 5, 268_435_460);
  // aedes clamps to 100 because its topic matcher cannot handle more; we refuse rather than clamp silently.
  assertInteger('maxTopicLevels', config.maxTopicLevels, 1, 100);
  assertInteger('connectTimeout', config.connectTimeout, 1, 2 ** 31 - 1);
  if (config.drainTimeout !== undefined) assertInteger('drainTimeout', config.drainTimeout, 0, 2 ** 31 - 1);
  if (config.heartbeatInterval !== undefined) {
    assertInteger('heartbeatInterval', config.heartbeatInterval, 1, 2 ** 31 - 1);
  }
  if (config.wsPath !== undefined && !config.wsPath.startsWith('/')) {
    throw new OptionError('wsPath must start with "/"');
  }
  return config;
}

/**
 * @param {string} name
 * @param {unknown} value
 * @param {number} min
 * @param {number} max
 */
function assertInteger(name, value, min, max) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/**
 * @param {Logger | 'quiet' | undefined} logger
 * @returns {Logger}
 */
function makeLogger(logger) {
  if (logger === 'quiet') return () => {};
  if (logger) return logger;
  return (level, message) => {
    if (level === 'warn' || level === 'error') console.error(`mqchat broker ${level}: ${message}`);
  };
}

/**
 * @param {string} dataDir
 */
async function openDatabase(dataDir) {
  await mkdir(dataDir, { recursive: true });
  const db = new Level(dataDir);
  // Open now so a locked or unreadable directory fails startup instead of the first publish.
  await db.open();
  return db;
}

/**
 * @param {ResolvedOptions} config
 * @param {Level | undefined} db
 * @returns {import('aedes').AedesOptions}
 */
function aedesOptions(config, db) {
  /** @type {WeakSet<import('aedes').Client>} */
  const badClientIds = new WeakSet();
  /** @type {import('aedes').AedesOptions} */
  const opts = {
    maxTopicLevels: config.maxTopicLevels,
    connectTimeout: config.connectTimeout,
    // aedes accepts an empty client id with cleanSession=0 and invents one; the spec says refuse it
    // [MQTT-3.1.3-8], and MQTT 3.1 required 1–23 characters. Noted here, refused in authenticate so the
    // client gets CONNACK 0x02 (identifier rejected) rather than a dropped socket.
    preConnect: (client, packet, callback) => {
      if (packet.clientId === '' && (!packet.clean || packet.protocolVersion === 3)) badClientIds.add(client);
      callback(null, true);
    },
    authenticate: (client, _username, _password, callback) => {
      if (!badClientIds.has(client)) return callback(null, true);
      const error = Object.assign(new Error('identifier rejected'), { returnCode: 2 });
      callback(/** @type {import('aedes').AuthenticateError} */ (error), false);
    },
    // aedes lets 'a+', '+a' and 'a#' through (its check skips wildcards at either end of the filter).
    // An error here is treated like aedes' own filter errors: the connection is closed [MQTT-4.8.0-1].
    authorizeSubscribe: (_client, subscription, callback) => {
      if (isValidTopicFilter(subscription.topic)) return callback(null, subscription);
      callback(new Error(`invalid topic filter: ${JSON.stringify(subscription.topic)}`));
    },
  };
  if (db) opts.persistence = aedesPersistenceLevel(db);
  if (config.drainTimeout !== undefined) opts.drainTimeout = config.drainTimeout;
  if (config.heartbeatInterval !== undefined) opts.heartbeatInterval = config.heartbeatInterval;
  return opts;
}

/**
 * MQTT 3.1.1 §4.7: '+' and '#' occupy a whole level [MQTT-4.7.1-2, MQTT-4.7.1-3], '#' only as the last
 * level, and a filter is at least one character long [MQTT-4.7.3-1].
 * @param {string} filter
 * @returns {boolean}
 */
export function isValidTopicFilter(filter) {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, index) => {
    if (level.includes('#')) return level === '#' && index === levels.length - 1;
    if (level.includes('+')) return level === '+';
    return true;
  });
}

/**
 * Bad input must never take the process down: aedes reports protocol errors as events, and an
 * unhandled 'error' event would throw.
 * @param {import('aedes').Aedes} aedes
 * @param {Logger} log
 */
function watchAedes(aedes, log) {
  aedes.on('clientError', (client, error) => log('debug', `client ${client.id}: ${error.message}`));
  aedes.on('connectionError', (_client, error) => log('debug', `connection: ${error.message}`));
  aedes.on('keepaliveTimeout', (client) => log('debug', `client ${client.id}: keepalive timeout`));
  // Persistence failures surface as 'error' on the broker itself (not in aedes' typings).
  /** @type {import('node:events').EventEmitter} */ (aedes).on('error', (/** @type {Error} */ error) =>
    log('error', `aedes: ${error.message}`),
  );
}

/**
 * The TCP and WebSocket servers, and every socket they accepted (tracked so close() can end them all).
 * @param {import('aedes').Aedes} aedes
 * @param {ResolvedOptions} config
 * @param {Logger} log
 */
function createListeners(aedes, config, log) {
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  /** @param {import('node:net').Socket} socket */
  const track = (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const tcp = createTcpServer((socket) => handleTcp(aedes, socket, config, log));
  tcp.on('connection', track);
  const http = createHttpServer(rejectPlainHttp);
  http.on('connection', track);
  const wss = createWsServer(aedes, http, config, log);
  return {
    /** Binds both ports; resolves with the ports actually bound. */
    listen: async () => {
      await listen(tcp, config.port, config.host);
      await listen(http, config.wsPort, config.host);
      return { mqtt: boundPort(tcp), ws: boundPort(http) };
    },
    /** Stops accepting; resolves once every accepted connection has closed. */
    stop: async () => {
      wss.close();
      await Promise.all([closeServer(tcp), closeServer(http)]);
    },
    destroySockets: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * @param {import('aedes').Aedes} aedes
 * @param {import('node:net').Socket} socket
 * @param {ResolvedOptions} config
 * @param {Logger} log
 */
function handleTcp(aedes, socket, config, log) {
  socket.setNoDelay(true);
  aedes.handle(socket);
  guardSocket(socket, config.maxPacketSize, log);
}

/**
 * Watches the bytes aedes reads and destroys the socket on an oversize or malformed packet length.
 * The listener is added after aedes' 'readable' listener, so it observes reads without switching the
 * socket to flowing mode.
 * @param {import('node:net').Socket} socket
 * @param {number} maxPacketSize
 * @param {Logger} log
 */
export function guardSocket(socket, maxPacketSize, log) {
  const check = createPacketSizeGuard(maxPacketSize);
  /** @param {Buffer} chunk */
  const onData = (chunk) => {
    const verdict = check(chunk);
    if (verdict === 'ok') return;
    socket.off('data', onData);
    log('debug', `tcp ${socket.remoteAddress}:${socket.remotePort}: ${verdict} packet, closing`);
    socket.destroy(new Error(verdict === 'too-large' ? 'packet exceeds maxPacketSize' : 'malformed length'));
  };
  socket.on('data', onData);
}

/**
 * @param {import('aedes').Aedes} aedes
 * @param {import('node:http').Server} http
 * @param {ResolvedOptions} config
 * @param {Logger} log
 */
function createWsServer(aedes, http, config, log) {
  const wss = new WebSocketServer({
    server: http,
    maxPayload: config.maxPacketSize + WS_FRAME_ALLOWANCE,
    // Compression buys little for small chat packets and costs memory per connection.
    perMessageDeflate: false,
    // mqtt.js and browsers offer 'mqtt'; old clients offer 'mqttv3.1'. Picking one is required: a browser
    // that offered a subprotocol fails the handshake if the server answers with none.
    handleProtocols: (protocols) => pickSubprotocol(protocols),
    ...(config.wsPath === undefined ? {} : { path: config.wsPath }),
  });
  wss.on('connection', (ws, req) => {
    const stream = new WebSocketDuplex(ws, { maxPacketSize: config.maxPacketSize });
    stream.on('error', (error) => log('debug', `ws: ${error.message}`));
    aedes.handle(stream, req);
  });
  wss.on('error', (error) => log('warn', `ws server: ${error.message}`));
  return wss;
}

/**
 * @param {Set<string>} protocols offered by the client
 * @returns {string | false}
 */
export function pickSubprotocol(protocols) {
  if (protocols.has('mqtt')) return 'mqtt';
  if (protocols.has('mqttv3.1')) return 'mqttv3.1';
  return false;
}

/**
 * Plain HTTP requests to the WebSocket port get a hint instead of hanging.
 * @param {import('node:http').IncomingMessage} _req
 * @param {import('node:http').ServerResponse} res
 */
function rejectPlainHttp(_req, res) {
  res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
  res.end('mqchat broker: connect with MQTT over WebSocket (subprotocol "mqtt")\n');
}

/**
 * @param {import('node:net').Server} server
 * @param {number} port
 * @param {string} host
 * @returns {Promise<void>}
 */
function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * @param {import('node:net').Server} server
 * @returns {number}
 */
function boundPort(server) {
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server is not listening on a port');
  return address.port;
}

/**
 * A connectable host for URLs: wildcard addresses become loopback, IPv6 gets brackets.
 * @param {string} host
 */
export function urlHost(host) {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * @param {import('node:net').Server} server
 * @returns {Promise<void>}
 */
function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * @param {import('aedes').Aedes} aedes
 * @returns {Promise<void>}
 */
function closeAedes(aedes) {
  return new Promise((resolve) => aedes.close(() => resolve()));
}

/**
 * aedes.close() leaves persistence open; the level database must be closed to release its lock before
 * another broker can open the same directory.
 * @param {import('aedes').Aedes} aedes
 */
async function closePersistence(aedes) {
  const persistence = /** @type {{ persistence?: { destroy?: () => Promise<void> } }} */ (
    /** @type {unknown} */ (aedes)
  ).persistence;
  await persistence?.destroy?.();
}

/**
 * Sweeps once before returning (so stale history is gone before the first client subscribes), then every
 * `intervalMs`. Sweeps never overlap.
 * @param {import('aedes').Aedes} aedes
 * @param {import('./retention.js').RetentionPolicy} policy
 * @param {Logger} log
 */
async function startSweeper(aedes, policy, log) {
  /** @type {Promise<SweepResult> | undefined} */
  let running;
  const sweep = () => {
    running ??= sweepRetained(aedes, policy).finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    sweep().then(
      (result) => log('debug', `retention: ${result.deleted} of ${result.scanned} room messages deleted`),
      (/** @type {Error} */ error) => log('error', `retention sweep failed: ${error.message}`),
    );
  };
  // A failed sweep is logged, not fatal: serving chat matters more than trimming history.
  await sweep().then(
    (result) => {
      if (result.deleted > 0) log('info', `retention: deleted ${result.deleted} expired room messages`);
    },
    (/** @type {Error} */ error) => log('error', `retention sweep failed: ${error.message}`),
  );
  const timer = setInterval(tick, policy.intervalMs);
  timer.unref();
  return {
    sweep,
    stop: async () => {
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
