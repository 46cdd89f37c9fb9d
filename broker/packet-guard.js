// Size guard for MQTT byte streams.
//
// aedes (via mqtt-packet) buffers a packet until all of its declared "remaining length" has arrived, up to
// the protocol maximum of 256 MiB, and has no option to cap it. A client can therefore make the broker hold
// hundreds of megabytes per connection just by announcing a huge packet. This guard reads only the MQTT fixed
// headers as the bytes flow by and reports the first packet that is too large, so the connection can be
// dropped as soon as the header arrives rather than after the body.

/** Largest value the 4-byte variable length integer can hold (MQTT 3.1.1 §2.2.3). */
const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * `ok`: nothing wrong so far; `too-large`: a packet (fixed header + remaining length) exceeds the limit;
 * `malformed`: the remaining-length field uses more than 4 bytes [MQTT-2.2.3].
 * @typedef {'ok' | 'too-large' | 'malformed'} GuardVerdict
 */

/**
 * Creates a stateful checker for one connection. Feed it every received chunk in order; packets may span
 * chunks and a chunk may hold several packets. Once it returns something other than `ok`, stop feeding it.
 * @param {number} maxPacketSize largest allowed packet, counting the fixed header, in bytes
 * @returns {(chunk: Uint8Array) => GuardVerdict}
 */
export function createPacketSizeGuard(maxPacketSize) {
  /** @type {'type' | 'length' | 'body'} */
  let state = 'type';
  let remainingLength = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let bodyLeft = 0;

  return function check(chunk) {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'type') {
        i += 1;
        state = 'length';
        remainingLength = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      if (state === 'length') {
        const byte = chunk[i] ?? 0;
        i += 1;
        lengthBytes += 1;
        remainingLength += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        // Checked on every length byte so an announced giant is rejected before its last length byte.
        if (1 + lengthBytes + remainingLength > maxPacketSize) return 'too-large';
        if (byte & 0x80) {
          if (lengthBytes === 4) return 'malformed';
          continue;
        }
        bodyLeft = remainingLength;
        state = bodyLeft > 0 ? 'body' : 'type';
        continue;
      }
      const take = Math.min(bodyLeft, chunk.length - i);
      i += take;
      bodyLeft -= take;
      if (bodyLeft === 0) state = 'type';
    }
    return 'ok';
  };
}

/**
 * Size of a whole MQTT packet whose remaining length is `remainingLength`, header included.
 * @param {number} remainingLength
 * @returns {number}
 */
export function packetSize(remainingLength) {
  if (remainingLength > MAX_REMAINING_LENGTH) throw new RangeError('remaining length out of range');
  let lengthBytes = 1;
  for (let n = remainingLength; n >= 128; n = Math.floor(n / 128)) lengthBytes += 1;
  return 1 + lengthBytes + remainingLength;
}
