// Authenticated mode (docs/BROKER.md "Authenticated mode", PROTOCOL.md AUTH-1..AUTH-8): a client logs in
// as the owner of an Ed25519 key, and then may only publish what that key signed, only read its own DM
// inbox, and only clear retained topics that are its own.

import {
  checkEnvelope,
  checkSealedDm,
  ENVELOPE_MAX_BYTES,
  isUserId,
  parseTopic,
  readFrom,
  topicUser,
  verifySignature,
} from './protocol.js';
import { RetainedIndex } from './limits.js';

/** The context string of login signatures (AUTH-2); a signature for anything else never logs in. */
export const LOGIN_CONTEXT = 'mqchat-login-v1';

export const AUTH_DEFAULTS = Object.freeze({
  /** How far a login timestamp may be from the broker's clock, either way (AUTH-3). */
  loginWindowMs: 60_000,
  /** Retained topics one user may hold under `<prefix>/v1/` (AUTH-8). */
  retainedQuota: 10_000,
});

/**
 * Used logins remembered at most (about 15 MB). Past it the oldest are forgotten early: a flood of fresh
 * logins must not lock everyone out, and replaying a forgotten one still needs a password captured less
 * than a minute ago.
 */
const REPLAY_CACHE_LIMIT = 100_000;

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3. */
export const CONNACK = Object.freeze({
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
});

/**
 * The bytes a login password signs (AUTH-2).
 * @param {string} clientId
 * @param {number} ts epoch ms
 */
export function loginMessage(clientId, ts) {
  return `${LOGIN_CONTEXT}\n${clientId}\n${ts}`;
}

/**
 * Reads a password `<ts>.<sig>` (AUTH-2): ts a decimal integer without leading zeros, sig 86 base64url
 * characters.
 * @param {Uint8Array | string | undefined} password
 * @returns {{ ts: number, sig: string } | undefined}
 */
export function parsePassword(password) {
  if (password === undefined || password.length > 128) return undefined;
  const text = typeof password === 'string' ? password : Buffer.from(password).toString('latin1');
  const match = /^(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]{86})$/.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const ts = Number(match[1]);
  return Number.isSafeInteger(ts) ? { ts, sig: match[2] } : undefined;
}

/**
 * @typedef {object} AuthSettings
 * @property {string} prefix topic prefix of the deployment
 * @property {number} loginWindowMs
 * @property {number} retainedQuota 0 = no quota
 * @property {() => number} now epoch ms
 */

/**
 * @typedef {{ ok: true, user: string } | { ok: false, returnCode: number, reason: string }} LoginVerdict
 */

/**
 * A PUBLISH as authorizePublish sees it (or a will).
 * @typedef {{ topic: string, payload: Uint8Array | string, retain?: boolean }} PublishLike
 */

/**
 * What to do with a publish; see {@link AuthPolicy#check}.
 * @typedef {{ verdict: 'allow', reason?: undefined } | { verdict: 'drop' | 'refuse', reason: string }} Decision
 */

/** @type {Decision} */
const ALLOW = Object.freeze({ verdict: 'allow' });

/**
 * @param {string} reason
 * @returns {Decision}
 */
const refuse = (reason) => ({ verdict: 'refuse', reason });

/**
 * @param {string} reason
 * @returns {Decision}
 */
const drop = (reason) => ({ verdict: 'drop', reason });

export class AuthPolicy {
  #prefix;
  #dmBase;
  #window;
  #quota;
  #now;
  /** @type {WeakMap<object, string>} the user each authenticated aedes client logged in as */
  #users = new WeakMap();
  /** @type {Map<string, number>} used logins (user, client id, ts) → when to forget them */
  #used = new Map();
  /** Who holds which retained topic under the prefix; see RetainedIndex. */
  index = new RetainedIndex();

  /** @param {AuthSettings} settings */
  constructor(settings) {
    this.#prefix = settings.prefix;
    this.#dmBase = `${settings.prefix}/v1/dm/`;
    this.#window = settings.loginWindowMs;
    this.#quota = settings.retainedQuota;
    this.#now = settings.now;
  }

  /**
   * Rebuilds the retained index from persistence: owners are the `from` of each envelope (not verified:
   * they were checked when published, or predate authenticated mode); DMs and unreadable payloads get no
   * owner. Runs once at start, before the listeners open.
   * @param {{ createRetainedStream: (pattern: string) => AsyncIterable<{ topic: string, payload: Uint8Array }> }} store
   */
  async rebuildIndex(store) {
    for await (const packet of store.createRetainedStream(`${this.#prefix}/v1/#`)) {
      const topic = parseTopic(this.#prefix, packet.topic);
      const owner = topic && topic.kind !== 'dm' ? readFrom(packet.payload) : undefined;
      this.index.set(packet.topic, owner ?? null);
    }
  }

  /**
   * The user an authenticated client logged in as.
   * @param {object | null} client
   * @returns {string | undefined}
   */
  userOf(client) {
    return client ? this.#users.get(client) : undefined;
  }

  /**
   * Checks a CONNECT (AUTH-1..AUTH-5). On success the client is bound to the user.
   * @param {object} client the aedes client
   * @param {string} clientId
   * @param {string | undefined} username
   * @param {Uint8Array | undefined} password
   * @param {PublishLike | null | undefined} will
   * @param {(clientId: string) => string | undefined} connectedUser user of a connected client with this id
   * @returns {LoginVerdict}
   */
  login(client, clientId, username, password, will, connectedUser) {
    const refuse = (/** @type {number} */ returnCode, /** @type {string} */ reason) =>
      /** @type {LoginVerdict} */ ({ ok: false, returnCode, reason });
    if (!isUserId(username)) return refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'user name is not a user id');
    const credentials = parsePassword(password);
    if (!credentials) return refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'password is not <ts>.<signature>');
    const now = this.#now();
    const message = Buffer.from(loginMessage(clientId, credentials.ts), 'utf8');
    if (!verifySignature(username, message, credentials.sig)) {
      return refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'login signature does not verify');
    }
    if (Math.abs(now - credentials.ts) > this.#window) {
      return refuse(CONNACK.NOT_AUTHORIZED, `login timestamp is more than ${this.#window} ms off`);
    }
    if (!this.#rememberLogin(`${username}\n${clientId}\n${credentials.ts}`, now)) {
      return refuse(CONNACK.NOT_AUTHORIZED, 'login replayed');
    }
    const holder = connectedUser(clientId);
    if (holder !== undefined && holder !== username) {
      return refuse(CONNACK.IDENTIFIER_REJECTED, 'client id is connected as another user');
    }
    if (will) {
      const decision = this.check(username, will);
      if (decision.verdict !== 'allow')
        return refuse(CONNACK.NOT_AUTHORIZED, `will refused: ${decision.reason}`);
    }
    this.#users.set(client, username);
    return { ok: true, user: username };
  }

  /**
   * Marks a login as used (AUTH-4).
   * @param {string} key
   * @param {number} now
   * @returns {boolean} false when it was used before: a replay
   */
  #rememberLogin(key, now) {
    // Insertion order is expiry order (same lifetime for all), so expired entries are at the front.
    for (const [old, expires] of this.#used) {
      if (expires > now && this.#used.size < REPLAY_CACHE_LIMIT) break;
      this.#used.delete(old);
    }
    if (this.#used.has(key)) return false;
    this.#used.set(key, now + 2 * this.#window);
    return true;
  }

  /**
   * Decides a publish by `user` (AUTH-6..AUTH-8) without changing anything.
   * - `allow`: publish it.
   * - `drop`: acknowledge it but neither store nor forward it. Only for an unchanged room message signed by
   *   someone else: honest clients re-publish those to answer sync requests (PROTOCOL.md SYNC-3), and must
   *   not be disconnected for it, but only the author may (re)place a message here.
   * - `refuse`: the client is disconnected (MQTT 3.1.1 cannot refuse one PUBLISH).
   * @param {string | undefined} user the login user; undefined for a will published after its client is
   *   gone (a restarted broker's stale wills), which is checked against its own `from`
   * @param {PublishLike} packet
   * @returns {Decision}
   */
  check(user, packet) {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const retain = packet.retain === true;
    const name = packet.topic;
    if (!name.startsWith(`${this.#prefix}/`)) {
      return retain ? refuse(`retained publish outside ${this.#prefix}/`) : ALLOW;
    }
    const topic = parseTopic(this.#prefix, name);
    if (!topic) return refuse('not an mqchat v1 topic');
    if (payload.length === 0 && !retain) return refuse('empty payload without retain');
    const current = this.index.ownerOf(name);

    if (topic.kind === 'dm') {
      if (user === undefined) return refuse('DM without a publisher');
      const ownsSlot = user === topic.owner || current === undefined || current === user;
      if (payload.length === 0) return ownsSlot ? ALLOW : refuse("clearing another user's DM");
      if (payload.length > ENVELOPE_MAX_BYTES) return refuse('DM over 64 KiB');
      const reason = checkSealedDm(topic, payload);
      if (reason) return refuse(reason);
      if (retain && !ownsSlot) return refuse('DM topic holds another publisher’s DM');
      return retain ? this.#withinQuota(user, current) : ALLOW;
    }

    const named = topicUser(topic);
    if (payload.length === 0) {
      if (user === undefined) return refuse('empty will');
      if (named !== undefined) return named === user ? ALLOW : refuse('topic names another user');
      if (topic.kind !== 'message') return refuse(`clearing a ${topic.kind} topic`);
      return typeof current === 'string' && current !== user
        ? refuse("clearing another user's message")
        : ALLOW;
    }
    const verdict = checkEnvelope(name, topic, payload);
    if (!verdict.ok) return refuse(verdict.reason);
    const signer = user ?? verdict.from;
    if (verdict.from !== signer) {
      const relay = topic.kind === 'message' && verdict.type === 'msg' && user !== undefined;
      return relay ? drop('room message signed by another user (a relay)') : refuse('signed by another user');
    }
    if (named !== undefined && named !== signer) return refuse('topic names another user');
    if (!retain) return ALLOW;
    if (topic.kind === 'message' && typeof current === 'string' && current !== signer) {
      return refuse("message topic holds another user's message");
    }
    return this.#withinQuota(signer, current);
  }

  /**
   * @param {string} user
   * @param {string | null | undefined} current owner of the topic now
   * @returns {Decision}
   */
  #withinQuota(user, current) {
    if (this.#quota === 0 || current === user || this.index.count(user) < this.#quota) return ALLOW;
    return refuse(`retained quota of ${this.#quota} topics reached`);
  }

  /**
   * Records an allowed publish in the retained index. Done when it is authorized, not when it is stored,
   * so concurrent publishes are decided in order; a publish that fails after this leaves a stale entry.
   * @param {string | undefined} user
   * @param {PublishLike} packet
   */
  record(user, packet) {
    if (packet.retain !== true || !packet.topic.startsWith(`${this.#prefix}/`)) return;
    if (packet.payload.length === 0) return this.index.delete(packet.topic);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const owner = user ?? readFrom(payload) ?? null;
    this.index.set(packet.topic, owner);
  }

  /**
   * AUTH-7: a filter that could match a topic in another user's DM inbox (`<prefix>/v1/dm/<other>/...`) is
   * refused, as are `$` topics (aedes' `$SYS` tree lists client ids and subscriptions).
   * @param {string} user
   * @param {string} filter
   */
  maySubscribe(user, filter) {
    if (filter.startsWith('$')) return false;
    return !reachesForeignInbox(filter.split('/'), [...this.#prefix.split('/'), 'v1', 'dm'], user);
  }

  /**
   * Second guard for AUTH-7: a DM is only ever forwarded to its inbox owner.
   * @param {string | undefined} user
   * @param {string} topic
   */
  mayForward(user, topic) {
    if (!topic.startsWith(this.#dmBase)) return true;
    const end = topic.indexOf('/', this.#dmBase.length);
    const owner = topic.slice(this.#dmBase.length, end === -1 ? undefined : end);
    return user !== undefined && owner === user;
  }
}

/**
 * True when `filter` matches some topic `<base levels>/<owner>/...` with an owner level other than `user`.
 * `+` matches any one level and `#` any rest, so a wildcard at or before the owner level reaches other
 * inboxes; a filter that stops above the owner level or names another literal on the way does not.
 * @param {string[]} filter levels of the filter
 * @param {string[]} base levels down to and including `dm`
 * @param {string} user
 */
export function reachesForeignInbox(filter, base, user) {
  for (let i = 0; i <= base.length; i += 1) {
    const level = filter[i];
    if (level === undefined) return false;
    if (level === '#') return true;
    // A literal that is no user id names no inbox: nothing can be published there (AUTH-6).
    if (i === base.length) return level === '+' || (isUserId(level) && level !== user);
    if (level !== '+' && level !== base[i]) return false;
  }
  return false;
}
