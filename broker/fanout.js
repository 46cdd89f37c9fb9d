// Live QoS 0 deliveries, encoded once per message rather than once per subscriber.
//
// For every subscriber of a topic aedes copies the message (`new Packet`), waits a turn (setImmediate),
// encodes it with mqtt-packet's writeToStream (four to six small writes: header, length, topic length,
// topic, payload, each going through the stream's write machinery) and waits another turn before calling
// back. A QoS 0 PUBLISH carries no packet id, so its bytes are the same for every subscriber: encoding it
// once and writing that one buffer to each connection does the same work once per message instead of once
// per delivery. docs/BENCHMARKS.md (broker group, QoS 0 1→50) measures the difference.
//
// aedes encodes every packet for MQTT 3.1.1 (it passes no protocol version to mqtt-packet, so MQTT 5
// properties are never sent), and so does `encodeQos0Publish`; tests/integration/broker.test.ts compares
// its bytes with mqtt-packet's.

/** @typedef {import('aedes').Client} Client */

/**
 * The fields of a delivered PUBLISH this module reads.
 * @typedef {object} ForwardedPacket
 * @property {string} topic
 * @property {Buffer | string} [payload]
 * @property {boolean} [retain]
 * @property {boolean} [dup]
 * @property {string} [brokerId]
 * @property {number} [brokerCounter]
 * @property {string} [clientId]
 * @property {boolean} [nl]
 */

/** First byte of a QoS 0 PUBLISH: type 3; the DUP (0x08) and RETAIN (0x01) bits are added per packet. */
const PUBLISH_QOS0 = 0x30;

/**
 * The last message encoded: aedes hands one message to all its subscribers in a row, each as a copy with
 * the same topic and payload objects and the same (brokerId, brokerCounter), the broker-wide id of the
 * publish, so for a fan-out every delivery after the first finds its bytes here.
 * @type {Encoded | undefined}
 */
let last;

/**
 * @typedef {object} Encoded
 * @property {string} topic
 * @property {Buffer | string} payload
 * @property {boolean} dup
 * @property {boolean} retain
 * @property {string | undefined} brokerId
 * @property {number | undefined} brokerCounter
 * @property {Buffer} bytes
 */

/**
 * The bytes of `packet` as a QoS 0 PUBLISH, as mqtt-packet encodes it for aedes (MQTT 3.1.1: no packet
 * id, no properties; DUP and RETAIN as the packet has them).
 * @param {ForwardedPacket} packet
 * @returns {Buffer}
 */
export function encodeQos0Publish(packet) {
  if (last !== undefined && sameMessage(last, packet)) return last.bytes;
  const { topic, payload = EMPTY, dup = false, retain = false, brokerId, brokerCounter } = packet;
  const topicLength = Buffer.byteLength(topic);
  const payloadLength = Buffer.byteLength(payload);
  const remaining = 2 + topicLength + payloadLength;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const bytes = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  bytes[0] = PUBLISH_QOS0 | (dup ? 0x08 : 0) | (retain ? 0x01 : 0);
  let offset = 1;
  // MQTT 3.1.1 §2.2.3: seven bits a byte, least significant first, the top bit set while more follow.
  for (let n = remaining; ; n = Math.floor(n / 0x80)) {
    bytes[offset++] = n >= 0x80 ? (n % 0x80) | 0x80 : n;
    if (n < 0x80) break;
  }
  offset = bytes.writeUInt16BE(topicLength, offset);
  offset += bytes.write(topic, offset);
  if (typeof payload === 'string') bytes.write(payload, offset);
  else payload.copy(bytes, offset);
  last = { topic, payload, dup, retain, brokerId, brokerCounter, bytes };
  return bytes;
}

const EMPTY = Buffer.alloc(0);

/**
 * @param {Encoded} a
 * @param {ForwardedPacket} b
 */
function sameMessage(a, b) {
  return (
    a.brokerCounter !== undefined &&
    a.payload === b.payload &&
    a.topic === b.topic &&
    a.brokerCounter === b.brokerCounter &&
    a.brokerId === b.brokerId &&
    a.dup === (b.dup ?? false) &&
    a.retain === (b.retain ?? false)
  );
}

/**
 * Writes an encoded packet to the client's connection, as aedes' own write does: only while the client
 * is connecting or connected, else the error aedes reports for a write to a closed connection. A full
 * socket is not waited on (broker/slow-subscribers.js bounds what may queue), but it is reported to
 * aedes as its write would, so `drainTimeout` still drops a connection that never drains.
 * @param {Client} client
 * @param {Buffer} bytes
 */
export function writeEncoded(client, bytes) {
  const internal = /** @type {ForwardingClient} */ (/** @type {unknown} */ (client));
  if (!internal.connecting && !internal.connected) return internal._onError(new Error('connection closed'));
  if (!internal.conn.write(bytes) && !internal.errored) internal.waitForDrain(noop);
}

const noop = () => {};

/**
 * What aedes checks before it forwards a message to a client (its `getToForwardPacket`, private to its
 * Client): MQTT 5's no-local flag, the duplicate filter of persistent sessions, then the broker's
 * `authorizeForward` hook, which may refuse the packet (null) or return another one to send.
 * @param {Client} client
 * @param {ForwardedPacket} packet
 * @returns {ForwardedPacket | null | undefined}
 */
export function packetToForward(client, packet) {
  const internal = /** @type {ForwardingClient} */ (/** @type {unknown} */ (client));
  if (packet.clientId === client.id && packet.nl) return undefined;
  // aedes' dedupe(): a message already sent to this client (same broker, an earlier counter) is skipped.
  const id = packet.brokerId;
  if (id) {
    const counter = packet.brokerCounter ?? 0;
    if ((internal.duplicates[id] ?? 0) >= counter) return undefined;
    internal.duplicates[id] = counter;
  }
  return internal.broker.authorizeForward(client, packet);
}

/**
 * The parts of an aedes Client used here (not in aedes' typings).
 * @typedef {object} ForwardingClient
 * @property {Record<string, number>} duplicates
 * @property {boolean} connecting
 * @property {boolean} connected
 * @property {import('node:stream').Duplex} conn
 * @property {boolean} errored
 * @property {(error: Error) => void} _onError
 * @property {(callback: () => void) => void} waitForDrain
 * @property {{ authorizeForward: (client: Client, packet: ForwardedPacket) => ForwardedPacket | null }} broker
 */
