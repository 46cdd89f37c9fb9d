// Limits against flooding: a publish rate per connection, concurrent connections per IP address, and the
// retained topics each user may hold (authenticated mode). All in memory, all O(1) per event.

/**
 * Publish rate of one connection: a token bucket of `burst` tokens refilled at `perSecond`. A publish
 * that finds the bucket empty is not refused at once but delayed until its token would exist, so a
 * client catching up after a reconnect (outbox, presence in every room) slows down instead of losing its
 * connection. While a publish waits, aedes reads nothing more from that client (it handles one socket read
 * at a time), so the client is held back by TCP flow control and the backlog cannot grow past one read.
 * Only a client that is more than `maxDelayMs` ahead of its allowance is refused.
 */
export class PublishRate {
  #perMs;
  #burst;
  #maxDelayMs;
  #tokens;
  #last;

  /**
   * @param {{ perSecond: number, burst: number, maxDelayMs: number }} limits
   * @param {number} now epoch ms
   */
  constructor(limits, now) {
    this.#perMs = limits.perSecond / 1000;
    this.#burst = limits.burst;
    this.#maxDelayMs = limits.maxDelayMs;
    this.#tokens = limits.burst;
    this.#last = now;
  }

  /**
   * Takes one token.
   * @param {number} now epoch ms
   * @returns {number} ms to wait before the publish may proceed (0 = at once), or -1: refuse it
   */
  take(now) {
    this.#tokens = Math.min(this.#burst, this.#tokens + Math.max(0, now - this.#last) * this.#perMs);
    this.#last = now;
    const delay = this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
    if (delay > this.#maxDelayMs) return -1;
    this.#tokens -= 1;
    return delay;
  }
}

/**
 * Counts open sockets per remote address. `admit` when a socket is accepted; the count drops when the
 * socket closes. Behind a reverse proxy every connection has the proxy's address: turn the limit off there.
 */
export class ConnectionsPerIp {
  /** @type {Map<string, number>} */
  #open = new Map();
  #max;

  /** @param {number} max concurrent sockets per address; 0 = no limit */
  constructor(max) {
    this.#max = max;
  }

  /**
   * @param {import('node:net').Socket} socket
   * @returns {boolean} false when the address already has `max` sockets open (the caller drops it)
   */
  admit(socket) {
    if (this.#max === 0) return true;
    const address = socket.remoteAddress ?? 'unknown';
    const open = this.#open.get(address) ?? 0;
    if (open >= this.#max) return false;
    this.#open.set(address, open + 1);
    socket.once('close', () => {
      const left = (this.#open.get(address) ?? 1) - 1;
      if (left > 0) this.#open.set(address, left);
      else this.#open.delete(address);
    });
    return true;
  }

  /**
   * Sockets open from `address` now.
   * @param {string} address
   */
  count(address) {
    return this.#open.get(address) ?? 0;
  }
}

/** One user's entry, shared by every topic the user owns so the user id string is held once. */
class Owner {
  count = 0;
  /** @param {string} user */
  constructor(user) {
    this.user = user;
  }
}

/**
 * Who holds each retained topic under `<prefix>/v1/`, and how many each user holds (the retained quota).
 * The owner of an envelope topic is its signer (`from`); of a sealed DM, the user who published it (the
 * payload hides the sender, so DMs retained before a restart have no known owner). `null` = retained,
 * owner unknown. About 200 bytes per retained topic.
 *
 * Why not ask persistence: on level that is a disk read (and an async round trip) before every publish
 * could be judged; this index answers at once.
 */
export class RetainedIndex {
  /** @type {Map<string, Owner | null>} */
  #topics = new Map();
  /** @type {Map<string, Owner>} */
  #owners = new Map();

  /**
   * @param {string} topic
   * @returns {string | null | undefined} the owner; null when retained without a known owner; undefined
   *   when nothing is retained there
   */
  ownerOf(topic) {
    const owner = this.#topics.get(topic);
    return owner === undefined ? undefined : (owner?.user ?? null);
  }

  /**
   * Retained topics `user` holds.
   * @param {string} user
   */
  count(user) {
    return this.#owners.get(user)?.count ?? 0;
  }

  get size() {
    return this.#topics.size;
  }

  /**
   * Records that `topic` now retains a payload owned by `user` (null = unknown).
   * @param {string} topic
   * @param {string | null} user
   */
  set(topic, user) {
    this.delete(topic);
    let owner = null;
    if (user !== null) {
      owner = this.#owners.get(user);
      if (!owner) {
        owner = new Owner(user);
        this.#owners.set(user, owner);
      }
      owner.count += 1;
    }
    this.#topics.set(topic, owner);
  }

  /** @param {string} topic */
  delete(topic) {
    const owner = this.#topics.get(topic);
    if (owner === undefined) return;
    this.#topics.delete(topic);
    if (owner === null) return;
    owner.count -= 1;
    if (owner.count === 0) this.#owners.delete(owner.user);
  }
}
