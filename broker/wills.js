// Last Wills across a broker restart.
//
// A will is how mqchat learns that a member's connection died (PROTOCOL.md PRES-3): a `gone` envelope on
// `<prefix>/v1/user/U/status`, retained, naming the connection (`conn`). aedes made a restart go wrong in
// two ways:
// 1. Shutting down, aedes closes every connection as if it had failed, so it publishes every client's
//    will: every member list empties at once, and members come back one by one as they reconnect.
// 2. After a crash the dead process's wills stay in level, and aedes publishes those whose client never
//    came back only on its will sweep, 4 × heartbeatInterval (4 minutes) after start: departed members
//    stay listed that long.
// So the broker keeps the wills stored when it shuts down (it going away is not its clients going away),
// and `willGrace` ms after it starts it publishes, once, every will an earlier process stored whose client
// has not reconnected under the same client id (such a client stored its will again, under this process).
// mqchat clients take a new client id and conn for every connection (PROTOCOL.md PRES-3), so all their
// old wills are published, and each names a connection nobody holds any more: it removes only members
// whose latest beat is from that connection, i.e. members who have not come back. The grace (5 s) lets
// the members who reconnect at once (CONN-2: first retry within 1 s) announce their new conn before
// that, so observers do not see them leave and join again; one still backing off is shown gone until
// it is back, which is the truth. (It used to be 30 s, the longest backoff, when clients kept one conn
// per tab and a late `gone` would have matched a member who came back.)

import { promisify } from 'node:util';

/**
 * A stored will as aedes' persistences keep it.
 * @typedef {{ clientId: string, brokerId: string, topic: string, payload: Buffer, qos: 0 | 1 | 2, retain: boolean }} StoredWill
 */

/**
 * The parts of aedes these functions use (clients and persistence are not in aedes' typings).
 * @typedef {object} WillBroker
 * @property {string} id
 * @property {Record<string, { will: unknown } | undefined>} clients
 * @property {{
 *   streamWill: (brokers: Record<string, number>) => AsyncIterable<StoredWill>,
 *   getWill: (client: { id: string }) => Promise<StoredWill | undefined>,
 *   delWill: (client: { id: string }) => Promise<unknown>,
 * }} persistence
 * @property {(client: null, packet: StoredWill, callback: (error?: Error | null) => void) => void} authorizePublish
 * @property {(packet: StoredWill, callback: (error?: Error) => void) => void} publish
 */

/**
 * Forgets the wills of every connected client, so closing them does not publish them; persistence keeps
 * them (level: for the next start). Call right before `aedes.close()`.
 * @param {import('aedes').Aedes} aedes
 */
export function keepWillsOnShutdown(aedes) {
  const broker = /** @type {WillBroker} */ (/** @type {unknown} */ (aedes));
  for (const client of Object.values(broker.clients)) {
    if (client) client.will = null;
  }
}

/**
 * Publishes the wills left by earlier broker processes, `graceMs` after now (or when `run()` is called).
 * @param {import('aedes').Aedes} aedes
 * @param {number} graceMs
 * @param {import('./index.js').Logger} log
 */
export function scheduleLeftoverWills(aedes, graceMs, log) {
  const broker = /** @type {WillBroker} */ (/** @type {unknown} */ (aedes));
  const authorize = promisify(broker.authorizePublish.bind(broker));
  const publish = promisify(broker.publish.bind(broker));
  let stopped = false;
  /** @type {Promise<number> | undefined} */
  let running;

  const publishLeftovers = async () => {
    let published = 0;
    for await (const will of broker.persistence.streamWill({ [broker.id]: Date.now() })) {
      if (stopped) break;
      // Back while we were reading: its will is stored again, under this process.
      if (broker.clients[will.clientId]) continue;
      try {
        await authorize(null, will);
        await publish(will);
        published += 1;
      } catch (error) {
        log('debug', `will of ${will.clientId} not published: ${/** @type {Error} */ (error).message}`);
      }
      const current = await broker.persistence.getWill({ id: will.clientId });
      if (current?.brokerId === will.brokerId) await broker.persistence.delWill({ id: will.clientId });
    }
    if (published > 0) log('info', `published ${published} wills of clients that did not come back`);
    return published;
  };

  /** Runs now unless a run is going on (then joins it); resolves with the number of wills published. */
  const run = () => {
    running ??= publishLeftovers().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setTimeout(() => {
    run().catch((/** @type {Error} */ error) => log('error', `leftover wills: ${error.message}`));
  }, graceMs);
  timer.unref();
  return {
    run,
    /** Cancels the timer, or stops a run going on and waits for it. */
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
