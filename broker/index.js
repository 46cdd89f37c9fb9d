// The mqchat broker: aedes over TCP and WebSocket, with level persistence, limits against hostile
// clients, an optional authenticated mode, and the retention sweep for room history. No side effects on
// import; see cli.js to run it.

import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { Aedes } from 'aedes';
import { Level } from 'level';
import { WebSocketServer } from 'ws';
import { AUTH_DEFAULTS, AuthPolicy } from './auth.js';
import { OptionError } from './errors.js';
import { createHooks, isValidTopicFilter } from './hooks.js';
import { ConnectionsPerIp } from './limits.js';
import { createPacketSizeGuard } from './packet-guard.js';
import { createPersistence } from './retained.js';
import { resolveRetention, retainedStore, sweepRetained } from './retention.js';
import { createSlowSubscriberGuard, SLOW_SUBSCRIBER_DEFAULTS } from './slow-subscribers.js';
import { keepWillsOnShutdown, scheduleLeftoverWills } from './wills.js';
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
 * @property {number} [drainTimeout] ms a connection may go without draining its socket before it is dropped;
 *   default 60000
 * @property {number} [maxQueuedQos0Bytes] QoS 0 messages to a connection are dropped while more than this many
 *   bytes wait to be sent to it; default 262144
 * @property {number} [maxQueuedBytes] a QoS 1 message to a connection with more than this many bytes waiting
 *   closes it; default 4194304
 * @property {number} [heartbeatInterval] ms between aedes $SYS heartbeats; default 60000
 * @property {number} [willGrace] ms after start before the wills an earlier broker process stored are
 *   published for clients that have not reconnected; default 5000
 * @property {Logger | 'quiet'} [logger] receives log lines; default: warnings and errors to stderr
 * @property {RetentionOptions | false} [retention] room history retention; default 30 days, false turns it off
 * @property {string} [prefix] topic prefix of the deployment, for auth and retention; default 'mqchat'
 * @property {boolean | AuthOptions} [auth] authenticated mode (docs/BROKER.md); default false (open)
 * @property {number} [publishRate] publishes per second per connection; default 20 with auth, else 0 (off)
 * @property {number} [publishBurst] publishes a connection may make at once; default 100
 * @property {number} [publishMaxDelay] ms a publish over the rate may be held back before the client is
 *   dropped instead; default 5000
 * @property {number} [maxConnectionsPerIp] concurrent sockets per remote address; default 20 with auth,
 *   else 0 (off)
 * @property {number} [retainedQuota] retained topics one user may hold (auth only); default 10000, 0 = off
 */

/**
 * Settings of authenticated mode beyond the `auth: true` switch.
 * @typedef {object} AuthOptions
 * @property {number} [loginWindowMs] how far a login timestamp may be off the broker's clock; default 60000
 * @property {() => number} [now] the broker's clock in epoch ms, injectable for tests; default Date.now
 */

/**
 * @typedef {object} RunningBroker
 * @property {{ mqtt: string, ws: string }} urls where clients connect (the WebSocket accepts any path)
 * @property {{ mqtt: number, ws: number }} ports the ports actually bound
 * @property {import('aedes').Aedes} aedes
 * @property {() => Promise<SweepResult>} sweepRetained runs the retention sweep now (no-op if retention is off)
 * @property {() => Promise<number>} publishLeftoverWills publishes now (instead of `willGrace` after start)
 *   the wills an earlier broker process stored for clients that have not reconnected; resolves with how many
 * @property {import('./slow-subscribers.js').SlowSubscriberStats} slowSubscribers QoS 0 deliveries dropped and
 *   connections closed because they stopped reading
 * @property {() => Promise<void>} close resolves once listeners, connections and persistence are closed
 */

export { OptionError, isValidTopicFilter };

export const BROKER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 1883,
  wsPort: 8888,
  dataDir: '.data/broker',
  maxPacketSize: 256 * 1024,
  maxTopicLevels: 16,
  connectTimeout: 10_000,
  prefix: 'mqchat',
  /** Rate limits on by default in authenticated mode only; 0 turns one off. */
  authPublishRate: 20,
  authMaxConnectionsPerIp: 20,
  publishBurst: 100,
  publishMaxDelay: 5_000,
  /**
   * mqchat names every connection anew (PROTOCOL.md PRES-3), so a leftover will never matches a member
   * who came back; the grace only lets the members who reconnect at once (CONN-2: first retry within
   * 1 s) announce their new connection first, so that nobody sees them leave and join again.
   */
  willGrace: 5_000,
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
  const retention = resolveRetention(
    options.retention === false
      ? false
      : { ...options.retention, prefix: options.retention?.prefix ?? config.prefix },
  );
  const auth = config.auth
    ? new AuthPolicy({
        prefix: config.prefix,
        loginWindowMs: config.auth.loginWindowMs,
        retainedQuota: config.retainedQuota,
        now: config.auth.now,
      })
    : undefined;
  const db = config.memory ? undefined : await openDatabase(config.dataDir);
  const hooks = createHooks({ ...config, now: config.auth?.now ?? (() => Date.now()) }, auth, log);

  /** @type {import('aedes').Aedes} */
  let aedes;
  try {
    aedes = await Aedes.createBroker(aedesOptions(hooks.aedesOptions(), config, db));
  } catch (error) {
    await db?.close();
    throw error;
  }
  try {
    // Before anything listens: publishes are judged by who holds which retained topic.
    await auth?.rebuildIndex(retainedStore(aedes));
  } catch (error) {
    await closeAedes(aedes);
    await closePersistence(aedes);
    throw error;
  }
  hooks.attach(aedes);
  watchAedes(aedes, log);

  const slow = createSlowSubscriberGuard(config, log);
  const listeners = createListeners(aedes, config, log, slow.guard);
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
  const wills = scheduleLeftoverWills(aedes, config.willGrace, log);
  const onSweep = auth ? (/** @type {string} */ topic) => auth.index.delete(topic) : undefined;
  const sweeper = retention ? await startSweeper(aedes, retention, log, onSweep) : undefined;

  /** @type {Promise<void> | undefined} */
  let closing;
  const close = () => {
    closing ??= (async () => {
      await sweeper?.stop();
      await wills.stop();
      hooks.stop();
      const stopped = listeners.stop();
      keepWillsOnShutdown(aedes);
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
    publishLeftoverWills: wills.run,
    slowSubscribers: slow.stats,
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
    maxQueuedQos0Bytes: options.maxQueuedQos0Bytes ?? SLOW_SUBSCRIBER_DEFAULTS.maxQueuedQos0Bytes,
    maxQueuedBytes: options.maxQueuedBytes ?? SLOW_SUBSCRIBER_DEFAULTS.maxQueuedBytes,
    heartbeatInterval: options.heartbeatInterval,
    willGrace: options.willGrace ?? BROKER_DEFAULTS.willGrace,
    prefix: options.prefix ?? (options.retention || undefined)?.prefix ?? BROKER_DEFAULTS.prefix,
    auth: resolveAuth(options.auth),
    publishRate: options.publishRate ?? (options.auth ? BROKER_DEFAULTS.authPublishRate : 0),
    publishBurst: options.publishBurst ?? BROKER_DEFAULTS.publishBurst,
    publishMaxDelay: options.publishMaxDelay ?? BROKER_DEFAULTS.publishMaxDelay,
    maxConnectionsPerIp:
      options.maxConnectionsPerIp ?? (options.auth ? BROKER_DEFAULTS.authMaxConnectionsPerIp : 0),
    retainedQuota: options.retainedQuota ?? AUTH_DEFAULTS.retainedQuota,
  };
  assertInteger('port', config.port, 0, 65_535);
  assertInteger('wsPort', config.wsPort, 0, 65_535);
  // 5 bytes is the smallest useful packet (a CONNECT is bigger; this only rules out nonsense).
  assertInteger('maxPacketSize', config.maxPacketSize, 5, 268_435_460);
  // aedes clamps to 100 because its topic matcher cannot handle more; we refuse rather than clamp silently.
  assertInteger('maxTopicLevels', config.maxTopicLevels, 1, 100);
  assertInteger('connectTimeout', config.connectTimeout, 1, 2 ** 31 - 1);
  if (config.drainTimeout !== undefined) assertInteger('drainTimeout', config.drainTimeout, 0, 2 ** 31 - 1);
  assertInteger('willGrace', config.willGrace, 0, 2 ** 31 - 1);
  assertInteger('maxQueuedQos0Bytes', config.maxQueuedQos0Bytes, 0, 2 ** 31 - 1);
  assertInteger('maxQueuedBytes', config.maxQueuedBytes, 0, 2 ** 31 - 1);
  if (config.heartbeatInterval !== undefined) {
    assertInteger('heartbeatInterval', config.heartbeatInterval, 1, 2 ** 31 - 1);
  }
  if (config.wsPath !== undefined && !config.wsPath.startsWith('/')) {
    throw new OptionError('wsPath must start with "/"');
  }
  if (!PREFIX_PATTERN.test(config.prefix)) {
    const name = options.prefix === undefined ? 'retention.prefix' : 'prefix';
    throw new OptionError(`${name} must be 1 to 4 levels of [A-Za-z0-9_-], at most 32 characters each`);
  }
  assertInteger('publishRate', config.publishRate, 0, 1_000_000);
  assertInteger('publishBurst', config.publishBurst, 1, 1_000_000);
  assertInteger('publishMaxDelay', config.publishMaxDelay, 0, 600_000);
  assertInteger('maxConnectionsPerIp', config.maxConnectionsPerIp, 0, 1_000_000);
  assertInteger('retainedQuota', config.retainedQuota, 0, 2 ** 31 - 1);
  if (config.auth) assertInteger('auth.loginWindowMs', config.auth.loginWindowMs, 1_000, 3_600_000);
  return config;
}

/** PROTOCOL.md section 1: one to four levels of [A-Za-z0-9_-]{1,32}. */
const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}(\/[A-Za-z0-9_-]{1,32}){0,3}$/;

/**
 * @param {boolean | AuthOptions | undefined} auth
 * @returns {{ loginWindowMs: number, now: () => number } | undefined}
 */
function resolveAuth(auth) {
  if (!auth) return undefined;
  const options = auth === true ? {} : auth;
  return {
    loginWindowMs: options.loginWindowMs ?? AUTH_DEFAULTS.loginWindowMs,
    now: options.now ?? (() => Date.now()),
  };
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
 * @param {import('aedes').AedesOptions} opts the hooks
 * @param {ResolvedOptions} config
 * @param {Level | undefined} db
 * @returns {import('aedes').AedesOptions}
 */
function aedesOptions(opts, config, db) {
  // aedes' own persistences, with retained lookups that follow the filter instead of scanning everything.
  opts.persistence = /** @type {import('aedes').AedesOptions['persistence']} */ (
    /** @type {unknown} */ (createPersistence(db))
  );
  if (config.drainTimeout !== undefined) opts.drainTimeout = config.drainTimeout;
  if (config.heartbeatInterval !== undefined) opts.heartbeatInterval = config.heartbeatInterval;
  return opts;
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
 * @param {(client: import('aedes').Client) => void} guard prepares every new aedes client
 */
function createListeners(aedes, config, log, guard) {
  /** @param {import('node:stream').Duplex} conn */
  const handle = (conn) => guard(aedes.handle(conn));
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  /** @param {import('node:net').Socket} socket */
  const track = (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const perIp = new ConnectionsPerIp(config.maxConnectionsPerIp);
  /** @param {import('node:net').Socket} socket */
  const admit = (socket) => {
    if (perIp.admit(socket)) return true;
    log('debug', `${socket.remoteAddress}: more than ${config.maxConnectionsPerIp} connections, dropped`);
    socket.destroy();
    return false;
  };
  const tcp = createTcpServer((socket) => {
    if (admit(socket)) handleTcp(handle, socket, config, log);
  });
  tcp.on('connection', track);
  const http = createHttpServer(rejectPlainHttp);
  // Counted per TCP socket, so WebSocket upgrades and plain HTTP on the port count alike.
  http.on('connection', admit);
  http.on('connection', track);
  const wss = createWsServer(handle, http, config, log);
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
 * @param {(conn: import('node:stream').Duplex) => void} handle hands a connection to aedes
 * @param {import('node:net').Socket} socket
 * @param {ResolvedOptions} config
 * @param {Logger} log
 */
function handleTcp(handle, socket, config, log) {
  socket.setNoDelay(true);
  batchWrites(socket);
  handle(socket);
  guardSocket(socket, config.maxPacketSize, log);
}

/**
 * Sends everything written to a TCP socket in one event-loop turn in one system call. aedes writes each
 * delivery in an immediate of its own and mqtt-packet uncorks the socket at the end of each tick, so with
 * Nagle's algorithm off every delivery was a write of its own, the largest cost of a fan-out. The socket
 * stays corked from its first write in a turn until that turn's immediates have run, as
 * broker/ws-stream.js gathers a WebSocket frame. Backpressure is unchanged: `write` still returns false
 * once the socket holds more than its high-water mark.
 * @param {import('node:net').Socket} socket
 */
export function batchWrites(socket) {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  /** @type {typeof socket.write} */
  const batched = function (...args) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write.apply(socket, /** @type {Parameters<typeof write>} */ (args));
  };
  socket.write = batched;
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
 * @param {(conn: import('node:stream').Duplex) => void} handle hands a connection to aedes
 * @param {import('node:http').Server} http
 * @param {ResolvedOptions} config
 * @param {Logger} log
 */
function createWsServer(handle, http, config, log) {
  const wss = new WebSocketServer({
    server: http,
    maxPayload: config.maxPacketSize + WS_FRAME_ALLOWANCE,
    // Compression buys little for small chat packets and costs memory per connection.
    perMessageDeflate: false,
    // mqtt.js and browsers offer 'mqtt'; old clients offer 'mqttv3.1'. Picking one is required: a browser
    // that offered a subprotocol fails the handshake if the server answers with none.
    handleProtocols: (protocols) => pickSubprotocol(protocols),
    // close() destroys every socket itself (createListeners tracks them); ws' own set would be a second one.
    clientTracking: false,
    ...(config.wsPath === undefined ? {} : { path: config.wsPath }),
  });
  wss.on('connection', (ws) => {
    const stream = new WebSocketDuplex(ws, { maxPacketSize: config.maxPacketSize });
    stream.on('error', (error) => log('debug', `ws: ${error.message}`));
    // Without the upgrade request: aedes would keep it (headers and all, about 2 KB) as `client.req` for
    // hooks that read it, and ours do not.
    handle(stream);
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
 * @param {((topic: string) => void) | undefined} onDelete told of every topic a sweep deletes
 */
async function startSweeper(aedes, policy, log, onDelete) {
  /** @type {Promise<SweepResult> | undefined} */
  let running;
  const sweep = () => {
    running ??= sweepRetained(aedes, policy, onDelete).finally(() => {
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
