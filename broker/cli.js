#!/usr/bin/env node
// Command line for the mqchat broker: `node broker/cli.js --help`.
// Every flag has an environment variable; a flag wins over its variable, which wins over the default.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AUTH_DEFAULTS } from './auth.js';
import { BROKER_DEFAULTS, OptionError, startBroker } from './index.js';
import { RETENTION_DEFAULTS } from './retention.js';

/**
 * @typedef {object} FlagSpec
 * @property {string} flag long name, without dashes
 * @property {'string' | 'boolean'} type
 * @property {string} [arg] placeholder for the value in --help
 * @property {string} env
 * @property {string} help
 * @property {string} [fallback] default shown in --help
 */

/** The single list that drives parsing, environment lookup and --help. */
/** @type {FlagSpec[]} */
export const FLAGS = [
  {
    flag: 'host',
    type: 'string',
    arg: 'host',
    env: 'MQCHAT_BROKER_HOST',
    help: 'interface to listen on (0.0.0.0 for all)',
    fallback: BROKER_DEFAULTS.host,
  },
  {
    flag: 'port',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_PORT',
    help: 'MQTT over TCP port, 0 = any free port',
    fallback: String(BROKER_DEFAULTS.port),
  },
  {
    flag: 'ws-port',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_WS_PORT',
    help: 'MQTT over WebSocket port (any path), 0 = any free port',
    fallback: String(BROKER_DEFAULTS.wsPort),
  },
  {
    flag: 'data-dir',
    type: 'string',
    arg: 'dir',
    env: 'MQCHAT_BROKER_DATA_DIR',
    help: 'directory of the level database (retained messages, sessions)',
    fallback: BROKER_DEFAULTS.dataDir,
  },
  {
    flag: 'memory',
    type: 'boolean',
    env: 'MQCHAT_BROKER_MEMORY',
    help: 'keep everything in memory; nothing survives a restart',
  },
  {
    flag: 'max-packet-size',
    type: 'string',
    arg: 'bytes',
    env: 'MQCHAT_BROKER_MAX_PACKET_SIZE',
    help: 'largest MQTT packet a client may send, in bytes',
    fallback: String(BROKER_DEFAULTS.maxPacketSize),
  },
  {
    flag: 'max-topic-levels',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_MAX_TOPIC_LEVELS',
    help: 'most "/"-separated levels in a topic (1-100)',
    fallback: String(BROKER_DEFAULTS.maxTopicLevels),
  },
  {
    flag: 'connect-timeout',
    type: 'string',
    arg: 'ms',
    env: 'MQCHAT_BROKER_CONNECT_TIMEOUT',
    help: 'ms a new connection has to send CONNECT',
    fallback: String(BROKER_DEFAULTS.connectTimeout),
  },
  {
    flag: 'will-grace',
    type: 'string',
    arg: 'ms',
    env: 'MQCHAT_BROKER_WILL_GRACE',
    help: 'ms after start before wills left by the last run are published',
    fallback: String(BROKER_DEFAULTS.willGrace),
  },
  {
    flag: 'retention-days',
    type: 'string',
    arg: 'days',
    env: 'MQCHAT_BROKER_RETENTION_DAYS',
    help: 'delete room messages older than this many days, 0 = keep forever',
    fallback: String(RETENTION_DEFAULTS.maxAgeDays),
  },
  {
    flag: 'max-per-room',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_MAX_PER_ROOM',
    help: 'keep at most this many messages per room, 0 = no cap',
    fallback: String(RETENTION_DEFAULTS.maxPerRoom),
  },
  {
    flag: 'prefix',
    type: 'string',
    arg: 'prefix',
    env: 'MQCHAT_BROKER_PREFIX',
    help: 'topic prefix of the chat, for retention and --auth',
    fallback: RETENTION_DEFAULTS.prefix,
  },
  {
    flag: 'auth',
    type: 'boolean',
    env: 'MQCHAT_BROKER_AUTH',
    help: 'authenticated mode: key-bound login, only signed publishes, private DM inboxes',
  },
  {
    flag: 'rate',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_RATE',
    help: 'publishes per second per connection, 0 = no limit',
    fallback: `${BROKER_DEFAULTS.authPublishRate} with --auth, else 0`,
  },
  {
    flag: 'burst',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_BURST',
    help: 'publishes a connection may make at once before --rate applies',
    fallback: String(BROKER_DEFAULTS.publishBurst),
  },
  {
    flag: 'max-conn-per-ip',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_MAX_CONN_PER_IP',
    help: 'concurrent connections per IP address, 0 = no limit',
    fallback: `${BROKER_DEFAULTS.authMaxConnectionsPerIp} with --auth, else 0`,
  },
  {
    flag: 'retained-quota',
    type: 'string',
    arg: 'n',
    env: 'MQCHAT_BROKER_RETAINED_QUOTA',
    help: 'retained topics one user may hold (--auth only), 0 = no quota',
    fallback: String(AUTH_DEFAULTS.retainedQuota),
  },
  { flag: 'quiet', type: 'boolean', env: 'MQCHAT_BROKER_QUIET', help: 'log errors only' },
  {
    flag: 'verbose',
    type: 'boolean',
    env: 'MQCHAT_BROKER_VERBOSE',
    help: 'also log client errors (bad packets, timeouts)',
  },
];

/** Thrown for anything the user typed wrong; main() prints it and exits 2. */
export class UsageError extends Error {}

/**
 * @typedef {object} CliConfig
 * @property {import('./index.js').BrokerOptions} broker
 * @property {'quiet' | 'normal' | 'verbose'} verbosity
 * @property {boolean} help
 */

/**
 * Reads flags and environment into broker options. Pure apart from its arguments.
 * @param {string[]} argv arguments after the script name
 * @param {Record<string, string | undefined>} env
 * @returns {CliConfig}
 */
export function parseCli(argv, env) {
  const values = parseFlags(argv);
  /** @param {string} flag */
  const text = (flag) => {
    const value = values[flag];
    if (typeof value === 'string') return value;
    const spec = FLAGS.find((entry) => entry.flag === flag);
    return spec ? env[spec.env] : undefined;
  };
  /** @param {string} flag */
  const bool = (flag) => {
    if (values[flag] === true) return true;
    const spec = FLAGS.find((entry) => entry.flag === flag);
    return spec ? parseBoolean(spec.env, env[spec.env]) : false;
  };
  /** @param {string} flag */
  const int = (flag) => parseInteger(flag, text(flag));

  /** @type {import('./index.js').BrokerOptions} */
  const broker = {};
  const host = text('host');
  if (host !== undefined) broker.host = host;
  assign(broker, 'port', int('port'));
  assign(broker, 'wsPort', int('ws-port'));
  const dataDir = text('data-dir');
  if (dataDir !== undefined) broker.dataDir = dataDir;
  if (bool('memory')) broker.memory = true;
  assign(broker, 'maxPacketSize', int('max-packet-size'));
  assign(broker, 'maxTopicLevels', int('max-topic-levels'));
  assign(broker, 'connectTimeout', int('connect-timeout'));
  assign(broker, 'willGrace', int('will-grace'));

  /** @type {import('./retention.js').RetentionOptions} */
  const retention = {};
  assign(retention, 'maxAgeDays', int('retention-days'));
  assign(retention, 'maxPerRoom', int('max-per-room'));
  const prefix = text('prefix');
  if (prefix !== undefined) {
    retention.prefix = prefix;
    broker.prefix = prefix;
  }
  broker.retention = retention;
  if (bool('auth')) broker.auth = true;
  assign(broker, 'publishRate', int('rate'));
  assign(broker, 'publishBurst', int('burst'));
  assign(broker, 'maxConnectionsPerIp', int('max-conn-per-ip'));
  assign(broker, 'retainedQuota', int('retained-quota'));

  const quiet = bool('quiet');
  const verbose = bool('verbose');
  if (quiet && verbose) throw new UsageError('--quiet and --verbose exclude each other');
  return { broker, verbosity: quiet ? 'quiet' : verbose ? 'verbose' : 'normal', help: values.help === true };
}

/**
 * @param {string[]} argv
 * @returns {Record<string, string | boolean | undefined>}
 */
function parseFlags(argv) {
  /** @type {Record<string, { type: 'string' | 'boolean', short?: string }>} */
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const spec of FLAGS) options[spec.flag] = { type: spec.type };
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return /** @type {Record<string, string | boolean | undefined>} */ (values);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * @template {object} T
 * @template {keyof T} K
 * @param {T} target
 * @param {K} key
 * @param {T[K] | undefined} value
 */
function assign(target, key, value) {
  if (value !== undefined) target[key] = value;
}

/**
 * @param {string} flag
 * @param {string | undefined} raw
 * @returns {number | undefined}
 */
function parseInteger(flag, raw) {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${flag} must be a whole number, got "${raw}"`);
  return Number(raw);
}

/**
 * @param {string} name
 * @param {string | undefined} raw
 */
function parseBoolean(name, raw) {
  if (raw === undefined || raw === '' || /^(0|false|no)$/i.test(raw)) return false;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  throw new UsageError(`${name} must be 1/0, true/false or yes/no, got "${raw}"`);
}

/** @returns {string} */
export function helpText() {
  const rows = FLAGS.map((spec) => {
    const name = spec.arg ? `--${spec.flag} <${spec.arg}>` : `--${spec.flag}`;
    const fallback = spec.fallback === undefined ? '' : ` (default: ${spec.fallback})`;
    return `  ${name.padEnd(26)}${spec.help}${fallback}\n  ${''.padEnd(26)}env ${spec.env}`;
  });
  return [
    'Usage: node broker/cli.js [options]',
    '',
    'Runs the mqchat MQTT broker (aedes) on TCP and WebSocket.',
    '',
    'Options:',
    ...rows,
    `  ${'-h, --help'.padEnd(26)}show this help`,
    '',
    'Flags override environment variables. Boolean variables take 1/0, true/false or yes/no.',
    'Stops cleanly on SIGINT/SIGTERM. Exit codes: 0 ok, 1 runtime error, 2 bad usage.',
    '',
  ].join('\n');
}

/**
 * @param {CliConfig['verbosity']} verbosity
 * @returns {import('./index.js').Logger}
 */
function consoleLogger(verbosity) {
  return (level, message) => {
    if (level === 'debug' && verbosity !== 'verbose') return;
    if ((level === 'info' || level === 'warn') && verbosity === 'quiet') return;
    const line = `mqchat broker ${level}: ${message}`;
    if (level === 'error' || level === 'warn') console.error(line);
    else console.log(line);
  };
}

/**
 * @param {string[]} argv
 * @param {Record<string, string | undefined>} env
 * @returns {Promise<void>}
 */
export async function main(argv, env) {
  /** @type {CliConfig} */
  let config;
  try {
    config = parseCli(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`mqchat broker: ${error.message}\nTry --help.`);
    process.exitCode = 2;
    return;
  }
  if (config.help) {
    process.stdout.write(helpText());
    return;
  }
  const log = consoleLogger(config.verbosity);
  const broker = await startBroker({ ...config.broker, logger: log }).catch((/** @type {Error} */ error) => {
    // Option validation errors from startBroker are usage errors too (e.g. --port 70000).
    const usage = error instanceof OptionError;
    console.error(`mqchat broker: ${error.message}`);
    process.exitCode = usage ? 2 : 1;
    return undefined;
  });
  if (!broker) return;
  // Always printed, even with --quiet: scripts read the actual ports from this line.
  console.log(`mqchat broker: ${broker.urls.mqtt}  ${broker.urls.ws}`);
  if (config.broker.auth)
    log('info', 'authenticated mode: clients log in with a signed password (docs/BROKER.md)');
  stopOnSignals(broker, log);
}

/**
 * @param {import('./index.js').RunningBroker} broker
 * @param {import('./index.js').Logger} log
 */
function stopOnSignals(broker, log) {
  let stopping = false;
  /** @param {NodeJS.Signals} signal */
  const stop = (signal) => {
    // A second signal means "now": skip the graceful path.
    if (stopping) process.exit(1);
    stopping = true;
    log('info', `${signal}, shutting down`);
    broker.close().then(
      () => process.exit(0),
      (/** @type {Error} */ error) => {
        log('error', `shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** True when this file is the program being run, not an import. */
function isEntryPoint() {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2), process.env).catch((/** @type {Error} */ error) => {
    console.error(`mqchat broker: ${error.stack ?? error.message}`);
    process.exitCode = 1;
  });
}
