// A Duplex over a server-side `ws` WebSocket that aedes can `handle()`.
//
// Why not `createWebSocketStream` from ws: aedes writes one MQTT packet as several small writes (fixed
// header, topic, message id, payload), and that stream turns every write into its own WebSocket frame — about
// five frames per PUBLISH. Browsers deliver each frame as a separate event, so a room history of a few
// thousand retained messages arrives several times slower than it should. mqtt-packet corks the stream
// around each packet; implementing `_writev` here and gathering everything written in the same event-loop
// turn sends the whole packet as one binary frame. aedes writes each delivery in an immediate of its own,
// so flushing in an immediate too (not at the end of the tick) also gathers the packets of a fan-out that
// reach one connection in the same turn: one frame, one socket write, for all of them.

import { Duplex } from 'node:stream';
import { createPacketSizeGuard } from './packet-guard.js';

/**
 * A burst (retained history on subscribe, a busy room) arrives from aedes one packet per event-loop turn.
 * A frame sent within this many milliseconds of the previous one waits this long for more packets, so a
 * burst travels in a few large frames (a browser handles each frame as a task of its own); a packet after
 * a quiet spell leaves at once.
 */
const COALESCE_MS = 1;

/** Queued WebSocket bytes above which write callbacks are held, so aedes sees backpressure and waits. */
const WS_HIGH_WATER_MARK = 256 * 1024;

/** Close codes (RFC 6455 §7.4.1) sent to the peer when we drop it. */
const CLOSE_NORMAL = 1000;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_TOO_BIG = 1009;

/**
 * How long a closing socket waits for the peer's close frame. ws waits 30 s by default, which would keep
 * every dead client (say, one dropped for a keepalive timeout) holding a socket for half a minute.
 */
const CLOSE_GRACE_MS = 2_000;

/**
 * @typedef {object} WebSocketDuplexOptions
 * @property {number} maxPacketSize largest MQTT packet accepted from the peer; bigger ones close the socket
 */

export class WebSocketDuplex extends Duplex {
  /** @type {import('ws').WebSocket} */
  #ws;
  /** @type {Buffer[]} */
  #pending = [];
  #pendingBytes = 0;
  /** Bytes of the write whose callback is held: counted by writableLength and already queued below it. */
  #heldBytes = 0;
  #flushScheduled = false;
  /** When the last frame was sent (performance.now()). */
  #lastFlush = -Infinity;
  /** @type {((error?: Error | null) => void) | null} */
  #heldCallback = null;
  #sendsInFlight = 0;
  /** @type {(chunk: Uint8Array) => import('./packet-guard.js').GuardVerdict} */
  #guard;

  /**
   * @param {import('ws').WebSocket} ws an open server-side socket
   * @param {WebSocketDuplexOptions} options
   */
  constructor(ws, options) {
    // allowHalfOpen false: when the peer goes away aedes must see both sides end.
    super({ allowHalfOpen: false });
    this.#ws = ws;
    this.#guard = createPacketSizeGuard(options.maxPacketSize);
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClose());
    ws.on('error', (error) => this.destroy(error));
  }

  /**
   * @param {import('ws').RawData} data
   * @param {boolean} isBinary
   */
  #onMessage(data, isBinary) {
    if (this.destroyed) return;
    // [MQTT-6.0.0-1] MQTT must travel in binary frames; anything else closes the connection.
    if (!isBinary) return this.#fail(CLOSE_UNSUPPORTED_DATA, new Error('text frame received'));
    const chunk = toBuffer(data);
    const verdict = this.#guard(chunk);
    if (verdict === 'too-large') return this.#fail(CLOSE_TOO_BIG, new Error('packet exceeds maxPacketSize'));
    if (verdict === 'malformed')
      return this.#fail(CLOSE_PROTOCOL_ERROR, new Error('malformed packet length'));
    // Read-side backpressure: stop reading the socket until aedes asks for more.
    if (!this.push(chunk)) this.#ws.pause();
  }

  /**
   * Bytes written but not yet handed to the kernel: held by this stream, gathered for the next frame, or
   * queued in ws (broker/slow-subscribers.js bounds it).
   */
  get queuedBytes() {
    return this.writableLength - this.#heldBytes + this.#pendingBytes + this.#ws.bufferedAmount;
  }

  #onClose() {
    if (!this.destroyed) this.push(null);
  }

  /**
   * @param {number} code
   * @param {Error} error
   */
  #fail(code, error) {
    this.#close(code, error.message);
    this.destroy(error);
  }

  /** @override */
  _read() {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  /**
   * @override
   * @param {Buffer} chunk
   * @param {BufferEncoding} _encoding
   * @param {(error?: Error | null) => void} callback
   */
  _write(chunk, _encoding, callback) {
    this.#enqueue([chunk], callback);
  }

  /**
   * @override
   * @param {Array<{ chunk: Buffer }>} chunks
   * @param {(error?: Error | null) => void} callback
   */
  _writev(chunks, callback) {
    this.#enqueue(
      chunks.map((entry) => entry.chunk),
      callback,
    );
  }

  /**
   * Queues bytes for the next frame: sent after this turn's immediates, or, in a burst, after COALESCE_MS.
   * The callback is released at once while the socket keeps up, so the next packet can be gathered;
   * otherwise it is held until sends complete.
   * @param {Buffer[]} buffers
   * @param {(error?: Error | null) => void} callback
   */
  #enqueue(buffers, callback) {
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    this.#pending.push(...buffers);
    this.#pendingBytes += bytes;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      if (performance.now() - this.#lastFlush > COALESCE_MS) setImmediate(() => this.#flush());
      else setTimeout(() => this.#flush(), COALESCE_MS);
    }
    if (this.#ws.bufferedAmount < WS_HIGH_WATER_MARK) return callback();
    this.#heldCallback = callback;
    this.#heldBytes = bytes;
  }

  #flush() {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    this.#lastFlush = performance.now();
    const frame = this.#pending.length === 1 ? this.#pending[0] : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!frame || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#sendsInFlight += 1;
    this.#ws.send(frame, { binary: true }, (error) => this.#onSent(error));
  }

  /** @param {Error | undefined} error */
  #onSent(error) {
    this.#sendsInFlight -= 1;
    if (error) {
      this.destroy(error);
      return;
    }
    const held = this.#heldCallback;
    if (held && (this.#sendsInFlight === 0 || this.#ws.bufferedAmount < WS_HIGH_WATER_MARK)) {
      this.#heldCallback = null;
      this.#heldBytes = 0;
      held();
    }
  }

  /**
   * @override
   * @param {(error?: Error | null) => void} callback
   */
  _final(callback) {
    this.#flush();
    this.#close(CLOSE_NORMAL, '');
    callback();
  }

  /**
   * @override
   * @param {Error | null} error
   * @param {(error?: Error | null) => void} callback
   */
  _destroy(error, callback) {
    // aedes destroys the stream right after writing a final packet (e.g. a refusing CONNACK); send what is
    // queued first — the close frame goes out after it, so the peer still gets the packet.
    this.#flush();
    this.#close(CLOSE_NORMAL, '');
    const held = this.#heldCallback;
    this.#heldCallback = null;
    this.#heldBytes = 0;
    held?.(error ?? new Error('connection closed'));
    callback(error);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #close(code, reason) {
    const ws = this.#ws;
    if (ws.readyState === ws.CONNECTING) return ws.terminate();
    if (ws.readyState !== ws.OPEN) return;
    ws.close(code, reason);
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    timer.unref();
    ws.once('close', () => clearTimeout(timer));
  }
}

/**
 * @param {import('ws').RawData} data
 * @returns {Buffer}
 */
function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
