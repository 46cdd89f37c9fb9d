// The aedes hooks of the bundled broker: client id checks, topic filter checks, authenticated mode
// (AuthPolicy, broker/auth.js) and the publish rate limit (broker/limits.js).

import { CONNACK } from './auth.js';
import { PublishRate } from './limits.js';

/** @typedef {import('aedes').Client} Client */
/** @typedef {import('./auth.js').PublishLike} PublishLike */
/** @typedef {import('./auth.js').AuthPolicy} AuthPolicy */

/**
 * @typedef {object} HookSettings
 * @property {number} maxTopicLevels
 * @property {number} connectTimeout
 * @property {number} publishRate publishes per second per connection; 0 = no limit
 * @property {number} publishBurst
 * @property {number} publishMaxDelay ms
 * @property {() => number} now epoch ms
 */

/**
 * @param {HookSettings} config
 * @param {AuthPolicy | undefined} auth authenticated mode, or undefined for open mode
 * @param {import('./index.js').Logger} log
 */
export function createHooks(config, auth, log) {
  /** @type {WeakSet<Client>} */
  const badClientIds = new WeakSet();
  /** @type {WeakMap<Client, PublishRate>} */
  const rates = new WeakMap();
  /** Publishes held back by the rate limit, cleared on close. */
  /** @type {Set<NodeJS.Timeout>} */
  const held = new Set();
  const now = config.now;
  /** @type {import('aedes').Aedes | undefined} */
  let broker;

  /** @param {string} clientId */
  const connectedUser = (clientId) => {
    const clients = /** @type {{ clients?: Record<string, Client> }} */ (/** @type {unknown} */ (broker))
      .clients;
    return clients && Object.hasOwn(clients, clientId) ? auth?.userOf(clients[clientId] ?? null) : undefined;
  };

  /**
   * @param {number} returnCode
   * @param {string} message
   */
  const connectError = (returnCode, message) =>
    /** @type {import('aedes').AuthenticateError} */ (Object.assign(new Error(message), { returnCode }));

  /** @type {import('aedes').AedesOptions['authorizePublish']} */
  const authorizePublish = (client, packet, callback) => {
    // aedes' default hook refuses these (moscajs/aedes#597); replacing the hook must keep that.
    if (packet.topic.startsWith('$SYS/')) return callback(new Error('$SYS/ topic is reserved'));
    // A will is published as its client goes away; it was checked at CONNECT and is not rate limited.
    const isWill = client === null || packet === /** @type {{ will?: unknown }} */ (client).will;
    let delay = 0;
    if (config.publishRate > 0 && client && !isWill) {
      let rate = rates.get(client);
      if (!rate) {
        const limits = { perSecond: config.publishRate, burst: config.publishBurst };
        rate = new PublishRate({ ...limits, maxDelayMs: config.publishMaxDelay }, now());
        rates.set(client, rate);
      }
      delay = rate.take(now());
      if (delay < 0) {
        return callback(
          new Error(`publish rate exceeded (${config.publishRate}/s, burst ${config.publishBurst})`),
        );
      }
    }
    const decide = () => {
      if (!auth) return callback(null);
      const user = auth.userOf(client);
      if (client && user === undefined) return callback(new Error('publish before login'));
      const decision = auth.check(user, packet);
      if (decision.verdict === 'refuse') {
        return callback(new Error(`publish to ${packet.topic} refused: ${decision.reason}`));
      }
      if (decision.verdict === 'drop') {
        log('debug', `client ${client?.id}: publish to ${packet.topic} dropped: ${decision.reason}`);
        dropPacket(packet);
        return callback(null);
      }
      auth.record(user, packet);
      callback(null);
    };
    if (delay === 0) return decide();
    const timer = setTimeout(() => {
      held.delete(timer);
      decide();
    }, delay);
    held.add(timer);
  };

  return {
    /**
     * The aedes options these hooks make up; the caller adds persistence and timing options.
     * @returns {import('aedes').AedesOptions}
     */
    aedesOptions() {
      /** @type {import('aedes').AedesOptions} */
      const opts = {
        maxTopicLevels: config.maxTopicLevels,
        connectTimeout: config.connectTimeout,
        // aedes accepts an empty client id with cleanSession=0 and invents one; the spec says refuse it
        // [MQTT-3.1.3-8], and MQTT 3.1 required 1–23 characters. Noted here, refused in authenticate so the
        // client gets CONNACK 0x02 (identifier rejected) rather than a dropped socket. In authenticated mode
        // the login signs the client id (AUTH-2), so an id invented by the broker could never log in.
        preConnect: (client, packet, callback) => {
          if (packet.clientId === '' && (auth || !packet.clean || packet.protocolVersion === 3)) {
            badClientIds.add(client);
          }
          callback(null, true);
        },
        authenticate: (client, username, password, callback) => {
          if (badClientIds.has(client)) {
            return callback(connectError(CONNACK.IDENTIFIER_REJECTED, 'identifier rejected'), false);
          }
          if (!auth) return callback(null, true);
          // aedes keeps the CONNECT's will in `_will` until authentication succeeds.
          const will = /** @type {{ _will?: PublishLike | null }} */ (/** @type {unknown} */ (client))._will;
          const verdict = auth.login(client, client.id, username, password, will, connectedUser);
          if (verdict.ok) return callback(null, true);
          log('debug', `client ${client.id}: login refused: ${verdict.reason}`);
          callback(connectError(verdict.returnCode, verdict.reason), false);
        },
        authorizePublish,
        // aedes lets 'a+', '+a' and 'a#' through (its check skips wildcards at either end of the filter).
        // An error here is treated like aedes' own filter errors: the connection is closed [MQTT-4.8.0-1].
        // A refused filter (authenticated mode, AUTH-7) gets SUBACK 0x80 instead.
        authorizeSubscribe: (client, subscription, callback) => {
          if (!isValidTopicFilter(subscription.topic)) {
            return callback(new Error(`invalid topic filter: ${JSON.stringify(subscription.topic)}`));
          }
          if (auth) {
            const user = auth.userOf(client);
            if (user === undefined || !auth.maySubscribe(user, subscription.topic)) {
              log('debug', `client ${client.id}: subscription to ${subscription.topic} refused`);
              return callback(null, null);
            }
          }
          callback(null, subscription);
        },
      };
      if (auth) {
        opts.authorizeForward = (client, packet) =>
          auth.mayForward(auth.userOf(client), packet.topic) ? packet : null;
      }
      return opts;
    },
    /** @param {import('aedes').Aedes} aedes */
    attach(aedes) {
      broker = aedes;
    },
    stop() {
      for (const timer of held) clearTimeout(timer);
      held.clear();
    },
  };
}

/**
 * Where a dropped publish goes: aedes acknowledges a PUBLISH once authorized and then routes it, so a
 * publish to be dropped silently is turned into an empty, unretained message on a `$` topic. Wildcards
 * never match `$` topics [MQTT-4.7.2-1] and authenticated mode refuses `$` filters, so nobody receives it.
 */
const DROP_TOPIC = '$mqchat/dropped';

/** @param {{ topic: string, payload: Buffer | string, retain: boolean }} packet */
function dropPacket(packet) {
  packet.topic = DROP_TOPIC;
  packet.payload = Buffer.alloc(0);
  packet.retain = false;
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
