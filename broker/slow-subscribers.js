// One subscriber that stops reading must not hold up everyone else.
//
// aedes hands a publish to every matching subscription and reads the publisher's next packets only once
// every delivery has called back; a delivery whose socket write returns false calls back on 'drain'. So a
// subscriber that stops reading (a frozen tab, a phone whose radio went away without a FIN) stalls every
// publish it subscribes to, and with it the publishers and every other subscriber of those topics, until
// aedes' `drainTimeout` (60 s) drops it. docs/BENCHMARKS.md (broker group) measures that stall.
//
// Here a live delivery never waits for a socket: it is written and called back at once, and what a
// connection may have queued is bounded instead:
//   QoS 0  dropped while more than `maxQueuedQos0Bytes` wait to be sent (at most once allows it);
//   QoS 1+ the connection is closed (its will published) when more than `maxQueuedBytes` wait: the
//          message cannot be dropped, and the client gets its rooms' retained history on reconnecting.
// Retained messages sent in answer to a SUBSCRIBE keep aedes' backpressure: that stream waits for its own
// client's socket and holds up nobody else. aedes' `drainTimeout` still drops a connection that does not
// drain at all.

import { encodeQos0Publish, packetToForward, writeEncoded } from './fanout.js';

/** @typedef {import('aedes').Client} Client */

/**
 * @typedef {object} SlowSubscriberLimits
 * @property {number} maxQueuedQos0Bytes QoS 0 deliveries are dropped while more than this is queued
 * @property {number} maxQueuedBytes a QoS 1/2 delivery finding more than this queued closes the connection
 */

/** @type {SlowSubscriberLimits} */
export const SLOW_SUBSCRIBER_DEFAULTS = Object.freeze({
  maxQueuedQos0Bytes: 256 * 1024,
  maxQueuedBytes: 4 * 1024 * 1024,
});

/**
 * Bytes a connection has accepted but not yet handed to the kernel: `queuedBytes` of a WebSocketDuplex
 * (its own buffer and ws' queue), else a socket's `writableLength`.
 * @param {{ queuedBytes?: number, writableLength?: number }} conn
 */
export function queuedBytes(conn) {
  return conn.queuedBytes ?? conn.writableLength ?? 0;
}

/**
 * What the broker did about slow subscribers since it started.
 * @typedef {object} SlowSubscriberStats
 * @property {number} droppedQos0 QoS 0 deliveries dropped
 * @property {number} closed connections closed for a queue over `maxQueuedBytes`
 */

/**
 * @param {SlowSubscriberLimits} limits
 * @param {import('./index.js').Logger} log
 */
export function createSlowSubscriberGuard(limits, log) {
  /** @type {SlowSubscriberStats} */
  const stats = { droppedQos0: 0, closed: 0 };
  /** @param {...unknown} _args */
  const ignore = (..._args) => {};

  /**
   * Replaces the client's delivery functions before it can subscribe (aedes captures them per
   * subscription).
   * @param {Client} client as returned by `aedes.handle()`
   */
  const guard = (client) => {
    const internal = /** @type {DeliveringClient} */ (/** @type {unknown} */ (client));
    const conn = /** @type {import('node:stream').Duplex & { queuedBytes?: number }} */ (internal.conn);
    const deliver0 = internal.deliver0;
    const deliverQoS = internal.deliverQoS;
    // aedes writes a delivery in a later tick (setImmediate); bytes handed over but not yet written count
    // too, or a burst of deliveries would all pass the check before the first one is written.
    let scheduled = 0;
    const backlog = () => queuedBytes(conn) + scheduled;
    /**
     * @param {Deliver} deliver
     * @param {DeliveredPacket} packet
     * @param {() => void} callback
     */
    const hand = (deliver, packet, callback) => {
      const size = approximateSize(packet);
      scheduled += size;
      deliver(packet, ignore);
      // Runs after aedes' own setImmediate has written the packet (immediates run in order).
      setImmediate(() => {
        scheduled -= size;
        callback();
      });
    };
    // Live QoS 0 does not go through aedes' deliver0: broker/fanout.js encodes a message once for all its
    // subscribers, and each delivery writes those bytes a turn later (setImmediate, as aedes does, so
    // packets keep their order) and calls back.
    internal.deliver0 = (packet, callback) => {
      if (packet.retain) return deliver0(packet, callback);
      if (backlog() > limits.maxQueuedQos0Bytes) {
        stats.droppedQos0 += 1;
        return setImmediate(callback);
      }
      const toForward = packetToForward(client, packet);
      if (!toForward) return setImmediate(callback);
      const bytes = encodeQos0Publish(toForward);
      scheduled += bytes.length;
      setImmediate(() => {
        scheduled -= bytes.length;
        writeEncoded(client, bytes);
        callback();
      });
    };
    internal.deliverQoS = (packet, callback) => {
      if (packet.retain) return deliverQoS(packet, callback);
      // aedes' deliverQoS hands QoS 0 packets to deliver0, which is now ours.
      if (packet.qos === 0) return internal.deliver0(packet, callback);
      const queued = backlog();
      if (queued <= limits.maxQueuedBytes) return hand(deliverQoS, packet, callback);
      if (!conn.destroyed) {
        stats.closed += 1;
        log('info', `client ${client.id}: ${queued} bytes queued, not reading; closing`);
        conn.destroy(new Error(`subscriber too slow: more than ${limits.maxQueuedBytes} bytes queued`));
      }
      setImmediate(callback);
    };
  };
  return { guard, stats };
}

/**
 * The parts of an aedes Client this module replaces (not in aedes' typings).
 * @typedef {object} DeliveringClient
 * @property {import('node:stream').Duplex} conn
 * @property {Deliver} deliver0
 * @property {Deliver} deliverQoS
 */

/** @typedef {import('./fanout.js').ForwardedPacket & { qos: number, retain: boolean }} DeliveredPacket */
/** @typedef {(packet: DeliveredPacket, callback: () => void) => void} Deliver */

/**
 * Bytes a PUBLISH takes on the wire, near enough: fixed header, topic, packet id, payload.
 * @param {DeliveredPacket} packet
 */
function approximateSize(packet) {
  return 7 + Buffer.byteLength(packet.topic) + (packet.payload?.length ?? 0);
}
