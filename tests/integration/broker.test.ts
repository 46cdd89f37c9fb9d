// The bundled broker (broker/): transports, limits against hostile clients, persistence, retention, CLI.
// Protocol conformance of aedes itself lives in broker-conformance.test.ts.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { generate, parser, type Packet } from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { FLAGS, helpText, parseCli } from '../../broker/cli.js';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../broker/index.js';
import { createPacketSizeGuard, packetSize } from '../../broker/packet-guard.js';
import {
  listRetainedTopics,
  parseRoomTopic,
  planRetentionSweep,
  readEnvelopeTs,
  type RoomRecord,
} from '../../broker/retention.js';
import {
  closeClients,
  connectClient,
  MessageLog,
  RawMqttClient,
  uniqueClientId,
  waitForClose,
  withTimeout,
} from '../helpers/mqtt-client.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MAX_PACKET = 8 * 1024;

/** Starts an in-memory broker on free ports, silent, without retention unless asked. */
function startTestBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  return startBroker({ port: 0, wsPort: 0, memory: true, logger: 'quiet', retention: false, ...options });
}

/** Errors aedes reported for clients/connections, to assert *why* a connection was dropped. */
function recordClientErrors(broker: RunningBroker): string[] {
  const errors: string[] = [];
  broker.aedes.on('clientError', (_client, error) => errors.push(error.message));
  broker.aedes.on('connectionError', (_client, error) => errors.push(error.message));
  return errors;
}

/** A fresh subscriber and publisher exchange a message over TCP and over WebSocket. */
async function expectBrokerServes(broker: RunningBroker): Promise<void> {
  const topic = `alive/${uniqueClientId()}`;
  const subscriber = await connectClient(`${broker.urls.ws}/mqtt`);
  const publisher = await connectClient(broker.urls.mqtt);
  try {
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync(topic);
    await publisher.publishAsync(topic, 'still here');
    expect((await log.waitForTopic(topic)).text).toBe('still here');
  } finally {
    await closeClients([subscriber, publisher]);
  }
}

/** Every packet in `frame`; throws if the frame ends in the middle of a packet. */
function packetsInFrame(frame: Buffer): Packet[] {
  const packets: Packet[] = [];
  const parse = parser({ protocolVersion: 4 });
  parse.on('packet', (packet: Packet) => packets.push(packet));
  parse.on('error', (error: Error) => {
    throw error;
  });
  const leftover = parse.parse(frame);
  if (leftover !== 0) throw new Error(`frame ends inside a packet (${leftover} bytes left over)`);
  return packets;
}

/** A raw `ws` client that records every frame as it arrives. */
class RawWsClient {
  readonly frames: Buffer[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => this.frames.push(data));
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve({ code })));
  }

  static async open(url: string): Promise<RawWsClient> {
    const ws = new WebSocket(url, 'mqtt');
    const client = new RawWsClient(ws);
    await withTimeout(once(ws, 'open'), 5_000, `ws open ${url}`);
    return client;
  }

  send(packet: Packet): void {
    this.ws.send(generate(packet));
  }

  async waitForFrames(count: number): Promise<Buffer[]> {
    await vi.waitFor(() => expect(this.frames.length).toBeGreaterThanOrEqual(count), { timeout: 5_000 });
    return this.frames;
  }
}

describe('startBroker', () => {
  let broker: RunningBroker;
  let errors: string[];
  const clients: MqttClient[] = [];
  const raws: RawMqttClient[] = [];

  beforeAll(async () => {
    broker = await startTestBroker({ maxPacketSize: MAX_PACKET, connectTimeout: 5_000 });
    errors = recordClientErrors(broker);
  });
  afterEach(async () => {
    await closeClients(clients.splice(0));
    for (const raw of raws.splice(0)) raw.destroy();
  });
  afterAll(() => broker.close());

  async function client(url: string, options = {}): Promise<MqttClient> {
    const connected = await connectClient(url, options);
    clients.push(connected);
    return connected;
  }

  async function rawConnected(): Promise<RawMqttClient> {
    const { raw, connack } = await RawMqttClient.connect(broker.ports.mqtt);
    raws.push(raw);
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 0 });
    return raw;
  }

  it('reports URLs with the ports it actually bound', () => {
    expect(broker.ports.mqtt).toBeGreaterThan(0);
    expect(broker.ports.ws).toBeGreaterThan(0);
    expect(broker.urls).toEqual({
      mqtt: `mqtt://127.0.0.1:${broker.ports.mqtt}`,
      ws: `ws://127.0.0.1:${broker.ports.ws}`,
    });
  });

  it('routes messages over TCP', async () => {
    const subscriber = await client(broker.urls.mqtt);
    const publisher = await client(broker.urls.mqtt);
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('tcp/+', { qos: 1 });
    await publisher.publishAsync('tcp/one', 'hello', { qos: 1 });
    expect((await log.waitForTopic('tcp/one')).text).toBe('hello');
  });

  it.each(['/mqtt', '/', '/any/path'])('routes messages over WebSocket on path %s', async (path) => {
    const subscriber = await client(`${broker.urls.ws}${path}`);
    const publisher = await client(broker.urls.mqtt);
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('ws/#');
    await publisher.publishAsync('ws/from-tcp', 'across transports');
    expect((await log.waitForTopic('ws/from-tcp')).text).toBe('across transports');
  });

  it('selects the "mqtt" WebSocket subprotocol that mqtt.js and browsers offer', async () => {
    const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
    expect(ws.ws.protocol).toBe('mqtt');
    ws.ws.close();
  });

  it('answers plain HTTP on the WebSocket port with 426 Upgrade Required', async () => {
    const response = await fetch(`http://127.0.0.1:${broker.ports.ws}/`);
    expect(response.status).toBe(426);
    await response.text();
  });

  it('sends a lone PUBLISH as exactly one WebSocket frame', async () => {
    const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
    ws.send({
      cmd: 'connect',
      clientId: uniqueClientId('frames'),
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
    });
    await ws.waitForFrames(1);
    ws.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'frames/#', qos: 1 }] });
    await ws.waitForFrames(2);
    expect(ws.frames.flatMap(packetsInFrame).map((packet) => packet.cmd)).toEqual(['connack', 'suback']);

    const publisher = await client(broker.urls.mqtt);
    const payloads = ['short', 'x'.repeat(2_000), 'ü'.repeat(100)];
    // One at a time: a burst may share frames (broker/ws-stream.js COALESCE_MS), a lone packet does not.
    for (const [index, payload] of payloads.entries()) {
      await publisher.publishAsync(`frames/${index}`, payload, { qos: index === 1 ? 1 : 0 });
      await ws.waitForFrames(3 + index);
    }
    const frames = ws.frames.slice(2);
    // One 'message' event per PUBLISH, each holding the whole packet and nothing else.
    expect(frames).toHaveLength(payloads.length);
    const published = frames.map((frame) => packetsInFrame(frame));
    expect(published.map((packets) => packets.length)).toEqual([1, 1, 1]);
    expect(
      published.flat().map((packet) => (packet.cmd === 'publish' ? String(packet.payload) : '')),
    ).toEqual(payloads);
    ws.ws.close();
  });

  it('never splits a packet across frames when replaying retained history', async () => {
    const publisher = await client(broker.urls.mqtt);
    for (let index = 0; index < 20; index += 1) {
      await publisher.publishAsync(`history/${String(index).padStart(2, '0')}`, `message ${index}`, {
        qos: 1,
        retain: true,
      });
    }
    const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
    ws.send({
      cmd: 'connect',
      clientId: uniqueClientId('history'),
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
    });
    ws.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'history/#', qos: 0 }] });
    await vi.waitFor(
      () => expect(ws.frames.flatMap(packetsInFrame).filter((p) => p.cmd === 'publish')).toHaveLength(20),
      { timeout: 5_000 },
    );
    // connack + suback + 20 publishes, at most one frame each.
    expect(ws.frames.length).toBeLessThanOrEqual(22);
    ws.ws.close();
  });

  describe('hostile input', () => {
    it('drops a TCP client that announces a packet over maxPacketSize, and keeps serving others', async () => {
      const raw = await rawConnected();
      // PUBLISH QoS 0 claiming a 1 MiB body; only the header and a little of the body are sent.
      raw.sendBytes(Buffer.from([0x30, 0x80, 0x80, 0x40, 0x00, 0x01, 0x61]));
      await raw.waitForClose();
      expect(errors).toContain('packet exceeds maxPacketSize');
      await expectBrokerServes(broker);
    });

    it('accepts a packet of exactly maxPacketSize over TCP', async () => {
      const subscriber = await client(broker.urls.mqtt);
      const log = new MessageLog(subscriber);
      await subscriber.subscribeAsync('size/limit');
      const raw = await rawConnected();
      // PUBLISH QoS 0 = type byte + 2 length bytes + 2-byte topic length + 10-byte topic + payload.
      const payloadLength = MAX_PACKET - 3 - 2 - 10;
      expect(packetSize(payloadLength + 2 + 10)).toBe(MAX_PACKET);
      raw.send({
        cmd: 'publish',
        topic: 'size/limit',
        payload: Buffer.alloc(payloadLength, 1),
        qos: 0,
        dup: false,
        retain: false,
      });
      expect((await log.waitForTopic('size/limit')).payload.length).toBe(payloadLength);
    });

    it('drops an oversize packet sent before CONNECT at once, not at the connect timeout', async () => {
      const raw = await RawMqttClient.open(broker.ports.mqtt);
      raws.push(raw);
      const started = Date.now();
      raw.sendBytes(Buffer.from([0x10, 0xff, 0xff, 0x7f])); // CONNECT announcing ~2 MiB
      await raw.waitForClose();
      expect(Date.now() - started).toBeLessThan(2_000);
      await expectBrokerServes(broker);
    });

    it('drops a WebSocket client whose frame exceeds the payload limit', async () => {
      const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
      ws.send({
        cmd: 'connect',
        clientId: uniqueClientId('big'),
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
      });
      await ws.waitForFrames(1);
      ws.send({
        cmd: 'publish',
        topic: 'big',
        payload: Buffer.alloc(MAX_PACKET * 2),
        qos: 0,
        dup: false,
        retain: false,
      });
      expect((await withTimeout(ws.closed, 5_000, 'ws close')).code).toBe(1009);
      await expectBrokerServes(broker);
    });

    it('drops a WebSocket client announcing an oversize packet spread over small frames', async () => {
      const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
      ws.send({
        cmd: 'connect',
        clientId: uniqueClientId('span'),
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
      });
      await ws.waitForFrames(1);
      const packet = generate({
        cmd: 'publish',
        topic: 'span',
        payload: Buffer.alloc(MAX_PACKET),
        qos: 0,
        dup: false,
        retain: false,
      });
      // Frames of 1 KiB each are all well under maxPayload; only the MQTT length gives the size away.
      for (let offset = 0; offset < packet.length && ws.ws.readyState === WebSocket.OPEN; offset += 1024) {
        ws.ws.send(packet.subarray(offset, offset + 1024));
      }
      expect((await withTimeout(ws.closed, 5_000, 'ws close')).code).toBe(1009);
      await expectBrokerServes(broker);
    });

    it('drops a WebSocket client sending text frames [MQTT-6.0.0-1]', async () => {
      const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
      ws.ws.send('CONNECT please');
      expect((await withTimeout(ws.closed, 5_000, 'ws close')).code).toBe(1003);
      await expectBrokerServes(broker);
    });

    it.each([
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['a reserved packet type', Buffer.from([0x00, 0x00])],
      [
        'a PUBLISH before CONNECT',
        generate({ cmd: 'publish', topic: 'a', payload: 'b', qos: 0, dup: false, retain: false }),
      ],
      [
        'a CONNECT with a bad protocol name',
        Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04, 0x02, 0, 0, 0, 0]),
      ],
      ['an over-long remaining length', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ])('closes a connection that starts with %s', async (_name, bytes) => {
      const raw = await RawMqttClient.open(broker.ports.mqtt);
      raws.push(raw);
      raw.sendBytes(bytes);
      await raw.waitForClose();
      await expectBrokerServes(broker);
    });

    it('drops a 150-level topic in PUBLISH and in SUBSCRIBE', async () => {
      const deep = Array.from({ length: 150 }, (_, index) => `l${index}`).join('/');
      const publisher = await rawConnected();
      publisher.send({
        cmd: 'publish',
        topic: deep,
        payload: 'x',
        qos: 1,
        messageId: 1,
        dup: false,
        retain: true,
      });
      await publisher.waitForClose();
      const subscriber = await rawConnected();
      subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: deep, qos: 0 }] });
      await subscriber.waitForClose();
      expect(errors).toContain('topic has too many levels');
      expect(await listRetainedTopics(broker.aedes, '#')).not.toContain(deep);
      await expectBrokerServes(broker);
    });

    it('allows 16 topic levels and drops the 17th', async () => {
      const levels = (count: number): string => Array.from({ length: count }, (_, i) => `l${i}`).join('/');
      const subscriber = await client(broker.urls.mqtt);
      const log = new MessageLog(subscriber);
      await subscriber.subscribeAsync(levels(16));
      const publisher = await client(broker.urls.mqtt);
      await publisher.publishAsync(levels(16), 'deep but fine');
      await log.waitForTopic(levels(16));
      publisher.publish(levels(17), 'too deep');
      await waitForClose(publisher);
      await expectBrokerServes(broker);
    });

    it('survives a client that disconnects in the middle of a packet', async () => {
      const raw = await rawConnected();
      const packet = generate({
        cmd: 'publish',
        topic: 'half',
        payload: 'y'.repeat(500),
        qos: 1,
        messageId: 3,
        dup: false,
        retain: false,
      });
      const gone = withTimeout(once(broker.aedes, 'clientDisconnect'), 5_000, 'clientDisconnect');
      raw.sendBytes(packet.subarray(0, 100));
      raw.destroy();
      await gone;
      await expectBrokerServes(broker);
    });
  });
});

describe('wsPath', () => {
  it('accepts WebSocket upgrades only on the configured path', async () => {
    const broker = await startTestBroker({ wsPath: '/mqtt' });
    try {
      const ok = await connectClient(`${broker.urls.ws}/mqtt`);
      await ok.endAsync();
      await expect(RawWsClient.open(`${broker.urls.ws}/elsewhere`)).rejects.toThrow(/400/);
    } finally {
      await broker.close();
    }
  });
});

describe('connect timeout', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ connectTimeout: 300 });
  });
  afterAll(() => broker.close());

  it.each(['tcp', 'ws'])('closes a %s connection that sends no CONNECT in time', async (transport) => {
    const started = Date.now();
    if (transport === 'tcp') {
      const raw = await RawMqttClient.open(broker.ports.mqtt);
      await raw.waitForClose(5_000);
    } else {
      const ws = await RawWsClient.open(`${broker.urls.ws}/mqtt`);
      await withTimeout(ws.closed, 5_000, 'ws close');
    }
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3_000);
  });
});

describe('persistence', () => {
  let dataDir: string;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mqchat-broker-'));
  });
  afterEach(async () => {
    await closeClients(clients.splice(0));
    await broker?.close();
    broker = undefined;
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  async function publishRetained(url: string, topic: string, payload: string): Promise<void> {
    const publisher = await connectClient(url);
    clients.push(publisher);
    // PUBACK comes after aedes stored the retained message.
    await publisher.publishAsync(topic, payload, { qos: 1, retain: true });
  }

  it('keeps retained messages across a restart on the same dataDir and ports', async () => {
    const dir = join(dataDir, 'restart');
    const first = await startBroker({ port: 0, wsPort: 0, dataDir: dir, logger: 'quiet', retention: false });
    broker = first;
    await publishRetained(first.urls.mqtt, 'kept/topic', 'survives');
    await closeClients(clients.splice(0));
    await first.close();

    broker = await startBroker({
      port: first.ports.mqtt,
      wsPort: first.ports.ws,
      dataDir: dir,
      logger: 'quiet',
      retention: false,
    });
    expect(broker.ports).toEqual(first.ports);
    const subscriber = await connectClient(`${broker.urls.ws}/mqtt`);
    clients.push(subscriber);
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('kept/#');
    const message = await log.waitForTopic('kept/topic');
    expect(message.text).toBe('survives');
    expect(message.packet.retain).toBe(true);
  });

  it('forgets retained messages on restart with memory: true', async () => {
    const first = await startTestBroker();
    broker = first;
    await publishRetained(first.urls.mqtt, 'gone/topic', 'forgotten');
    expect(await listRetainedTopics(first.aedes, 'gone/#')).toEqual(['gone/topic']);
    await closeClients(clients.splice(0));
    await first.close();

    broker = await startTestBroker({ port: first.ports.mqtt, wsPort: first.ports.ws });
    expect(await listRetainedTopics(broker.aedes, '#')).toEqual([]);
  });

  it('refuses to open a dataDir another broker holds, without leaking listeners', async () => {
    const dir = join(dataDir, 'locked');
    broker = await startBroker({ port: 0, wsPort: 0, dataDir: dir, logger: 'quiet', retention: false });
    await expect(startBroker({ port: 0, wsPort: 0, dataDir: dir, logger: 'quiet' })).rejects.toThrow();
  });

  it('closes listeners and persistence if a port is taken', async () => {
    const dir = join(dataDir, 'port-taken');
    broker = await startTestBroker();
    const taken = broker.ports.mqtt;
    await expect(
      startBroker({ port: taken, wsPort: 0, dataDir: dir, logger: 'quiet', retention: false }),
    ).rejects.toThrow(/EADDRINUSE/);
    // The database lock was released: the same directory opens again.
    const again = await startBroker({ port: 0, wsPort: 0, dataDir: dir, logger: 'quiet', retention: false });
    await again.close();
  });
});

// Room topics as PROTOCOL.md section 1 defines them; the broker reads only `t` and `ts` of a payload.
const USER = 'U'.repeat(43);
const msgId = (n: number): string => n.toString(16).padStart(32, '0');
const msgTopic = (page: number, n: number, room = 'lobby'): string =>
  `mqchat/v1/room/${room}/msg/${page}/${msgId(n)}`;
const reactTopic = (page: number, n: number, room = 'lobby'): string =>
  `mqchat/v1/room/${room}/react/${page}/${msgId(n)}/${USER}`;
const pageTopic = (page: number, room = 'lobby'): string => `mqchat/v1/room/${room}/page/${page}`;
const envelope = (t: string, ts: number): string =>
  JSON.stringify({ v: 1, t, from: USER, ts, sig: 'unchecked' });

describe('retention policy', () => {
  const now = Date.UTC(2025, 2, 31, 12, 30);
  const cutoff = now - 30 * DAY;
  const policy = { maxAgeDays: 30, maxPerRoom: 0 };
  const record = (topic: string, ts?: number): RoomRecord => {
    const parsed = parseRoomTopic(topic, 'mqchat');
    if (!parsed) throw new Error(`not a room topic: ${topic}`);
    return ts === undefined ? parsed : { ...parsed, ts };
  };

  it('reads message, reaction and page-marker topics and ignores everything else', () => {
    expect(parseRoomTopic(msgTopic(3, 1), 'mqchat')).toEqual({
      topic: msgTopic(3, 1),
      kind: 'msg',
      room: 'lobby',
      page: 3,
      id: msgId(1),
    });
    expect(parseRoomTopic(reactTopic(0, 2), 'mqchat')).toMatchObject({
      kind: 'react',
      page: 0,
      id: msgId(2),
    });
    expect(parseRoomTopic(pageTopic(7), 'mqchat')).toMatchObject({ kind: 'page', page: 7 });
    expect(parseRoomTopic('a/b/v1/room/x/page/1', 'a/b')).toMatchObject({ kind: 'page', room: 'x' });
    for (const other of [
      'mqchat/v1/room/lobby/head',
      `mqchat/v1/room/lobby/here/${USER}`,
      `mqchat/v1/room/lobby/msg/01/${msgId(1)}`,
      `mqchat/v1/room/lobby/msg/1/${msgId(0xabc).toUpperCase()}`,
      `mqchat/v1/room/lobby/msg/1/${msgId(1)}/extra`,
      `mqchat/v2/room/lobby/msg/1/${msgId(1)}`,
      `other/v1/room/lobby/msg/1/${msgId(1)}`,
      `mqchat/v1/dm/${USER}/${msgId(1)}`,
    ]) {
      expect(parseRoomTopic(other, 'mqchat'), other).toBeUndefined();
    }
  });

  it('takes the date from the envelope ts of messages, tombstones and reactions only', () => {
    const bytes = (text: string): Buffer => Buffer.from(text);
    expect(readEnvelopeTs(bytes(envelope('msg', 5)), 'msg')).toBe(5);
    expect(readEnvelopeTs(bytes(envelope('del', 6)), 'msg')).toBe(6);
    expect(readEnvelopeTs(bytes(envelope('react', 7)), 'react')).toBe(7);
    for (const unreadable of [
      envelope('react', 1), // wrong type for a message topic
      JSON.stringify({ t: 'msg', ts: '5' }),
      JSON.stringify({ t: 'msg', ts: -1 }),
      JSON.stringify({ t: 'msg', ts: 1.5 }),
      JSON.stringify([{ t: 'msg', ts: 1 }]),
      'null',
      'not json',
      JSON.stringify({ t: 'msg', ts: 1, pad: 'x'.repeat(70_000) }),
    ]) {
      expect(readEnvelopeTs(bytes(unreadable), 'msg'), unreadable.slice(0, 40)).toBeUndefined();
    }
  });

  it('deletes messages older than maxAgeDays and keeps undated ones', () => {
    const records = [
      record(msgTopic(0, 1), cutoff - 1),
      record(msgTopic(0, 2), cutoff),
      record(msgTopic(0, 3)), // unreadable payload: never deleted
      record(msgTopic(1, 4), now),
    ];
    expect(planRetentionSweep(records, policy, now)).toEqual([msgTopic(0, 1)]);
  });

  it('deletes reactions with their message, and orphaned reactions once they are old', () => {
    const records = [
      record(msgTopic(1, 1), cutoff - DAY),
      record(reactTopic(1, 1), now), // its message goes now
      record(msgTopic(1, 2), now),
      record(reactTopic(1, 2), cutoff - DAY), // old reaction on a live message stays
      record(reactTopic(1, 3), cutoff - DAY), // orphan, old
      record(reactTopic(1, 4), now), // orphan, recent
    ];
    expect(planRetentionSweep(records, policy, now).sort()).toEqual(
      [msgTopic(1, 1), reactTopic(1, 1), reactTopic(1, 3)].sort(),
    );
  });

  it('deletes the markers of emptied pages but never the newest page', () => {
    const records = [
      record(pageTopic(0)),
      record(msgTopic(0, 1), cutoff - DAY),
      record(pageTopic(1)),
      record(msgTopic(1, 2)), // undated: page 1 stays in use
      record(pageTopic(2)),
      record(msgTopic(2, 3), cutoff - DAY),
      record(pageTopic(3)), // newest page, empty: senders are about to fill it
      record(pageTopic(0, 'other')),
    ];
    expect(planRetentionSweep(records, policy, now).sort()).toEqual(
      [msgTopic(0, 1), pageTopic(0), msgTopic(2, 3), pageTopic(2)].sort(),
    );
  });

  it('caps each room at maxPerRoom, dropping the oldest messages first', () => {
    const records = [
      record(msgTopic(0, 1), now - 3 * HOUR),
      record(msgTopic(1, 2), now - 1 * HOUR),
      record(msgTopic(0, 3), now - 4 * HOUR),
      record(msgTopic(1, 4), now - 2 * HOUR),
      record(msgTopic(0, 5, 'quiet'), now - 400 * DAY),
    ];
    expect(planRetentionSweep(records, { maxAgeDays: 0, maxPerRoom: 2 }, now)).toEqual([
      msgTopic(0, 3),
      msgTopic(0, 1),
    ]);
  });
});

describe('retention sweep', () => {
  let broker: RunningBroker | undefined;
  let dataDir: string;
  const clients: MqttClient[] = [];
  const start = Date.UTC(2025, 2, 31, 12, 30);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mqchat-retention-'));
  });
  afterEach(async () => {
    await closeClients(clients.splice(0));
    await broker?.close();
    broker = undefined;
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  /** Publishes retained [topic, payload] pairs and waits for every PUBACK (aedes stored them by then). */
  async function publishRetained(url: string, entries: Array<[string, string]>): Promise<void> {
    const publisher = await connectClient(url);
    clients.push(publisher);
    for (const [topic, payload] of entries)
      await publisher.publishAsync(topic, payload, { qos: 1, retain: true });
  }
  const message = (topic: string, ts: number): [string, string] => [topic, envelope('msg', ts)];

  it('deletes expired messages with their reactions and emptied pages, and keeps the rest', async () => {
    let now = start;
    broker = await startTestBroker({ retention: { maxAgeDays: 30, now: () => now } });
    const expired = [msgTopic(0, 1), msgTopic(0, 2), reactTopic(0, 2), pageTopic(0), msgTopic(1, 3)];
    const kept = [msgTopic(1, 4), pageTopic(1), pageTopic(2), msgTopic(0, 5, 'other'), pageTopic(0, 'other')];
    const untouched = ['mqchat/v1/room/lobby/head', `mqchat/v1/room/lobby/here/${USER}`, 'elsewhere/topic'];
    await publishRetained(broker.urls.mqtt, [
      message(msgTopic(0, 1), start - 40 * DAY),
      message(msgTopic(0, 2), start - 31 * DAY),
      [reactTopic(0, 2), envelope('react', start - DAY)],
      [pageTopic(0), envelope('page', start - 40 * DAY)],
      message(msgTopic(1, 3), start - 30 * DAY - 1),
      message(msgTopic(1, 4), start - 29 * DAY),
      [pageTopic(1), envelope('page', start - 31 * DAY)],
      [pageTopic(2), envelope('page', start - 31 * DAY)],
      message(msgTopic(0, 5, 'other'), start),
      [pageTopic(0, 'other'), envelope('page', start)],
      ...untouched.map((topic): [string, string] => [topic, envelope('head', 1)]),
    ]);

    expect(await broker.sweepRetained()).toEqual({ scanned: 10, deleted: expired.length });
    expect((await listRetainedTopics(broker.aedes, '#')).sort()).toEqual([...kept, ...untouched].sort());

    now = start + 2 * DAY; // message 4 is now 31 days old; page 1 empties, page 2 is still the newest
    expect(await broker.sweepRetained()).toEqual({ scanned: 5, deleted: 2 });
    expect((await listRetainedTopics(broker.aedes, 'mqchat/v1/room/lobby/#')).sort()).toEqual(
      [pageTopic(2), ...untouched.slice(0, 2)].sort(),
    );
  });

  it('tells subscribers nothing: expired messages are deleted, not republished', async () => {
    let now = start;
    broker = await startTestBroker({ retention: { maxAgeDays: 1, now: () => now } });
    const subscriber = await connectClient(broker.urls.mqtt);
    clients.push(subscriber);
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('mqchat/#');
    await publishRetained(broker.urls.mqtt, [message(msgTopic(0, 1), start)]);
    await log.waitForTopic(msgTopic(0, 1));
    now = start + 3 * DAY;
    expect((await broker.sweepRetained()).deleted).toBe(1);
    // A message published after the sweep arrives; an empty "delete" for the expired topic never came first.
    await publishRetained(broker.urls.mqtt, [['mqchat/marker', 'after']]);
    await log.waitForTopic('mqchat/marker');
    expect(log.topics).toEqual([msgTopic(0, 1), 'mqchat/marker']);
  });

  it('sweeps at start, removing history that expired while the broker was down', async () => {
    const dir = join(dataDir, 'startup');
    const options = { port: 0, wsPort: 0, dataDir: dir, logger: 'quiet' as const };
    const first = await startBroker({ ...options, retention: { now: () => start } });
    broker = first;
    await publishRetained(first.urls.mqtt, [
      message(msgTopic(0, 1), start - 20 * DAY),
      message(msgTopic(0, 2), start - HOUR),
    ]);
    await closeClients(clients.splice(0));
    await first.close();

    broker = await startBroker({ ...options, retention: { maxAgeDays: 30, now: () => start + 15 * DAY } });
    expect(await listRetainedTopics(broker.aedes, '#')).toEqual([msgTopic(0, 2)]);
  });

  it('sweeps again every intervalMs', async () => {
    let now = start;
    broker = await startTestBroker({ retention: { maxAgeDays: 30, intervalMs: 20, now: () => now } });
    await publishRetained(broker.urls.mqtt, [message(msgTopic(0, 1), start)]);
    expect(await listRetainedTopics(broker.aedes, '#')).toEqual([msgTopic(0, 1)]);
    now = start + 31 * DAY;
    await vi.waitFor(async () => expect(await listRetainedTopics(broker!.aedes, '#')).toEqual([]), {
      timeout: 5_000,
      interval: 20,
    });
  });

  it('caps retained messages per room with maxPerRoom', async () => {
    broker = await startTestBroker({ retention: { maxAgeDays: 30, maxPerRoom: 2, now: () => start } });
    await publishRetained(broker.urls.mqtt, [
      message(msgTopic(0, 1), start - 3 * HOUR),
      message(msgTopic(0, 2), start - 2 * HOUR),
      message(msgTopic(0, 3), start - HOUR),
      message(msgTopic(0, 4, 'quiet'), start - 5 * HOUR),
    ]);
    expect(await broker.sweepRetained()).toEqual({ scanned: 4, deleted: 1 });
    expect((await listRetainedTopics(broker.aedes, '#')).sort()).toEqual(
      [msgTopic(0, 2), msgTopic(0, 3), msgTopic(0, 4, 'quiet')].sort(),
    );
  });

  it('is off with 0 days and no cap', async () => {
    broker = await startTestBroker({ retention: { maxAgeDays: 0, now: () => start } });
    await publishRetained(broker.urls.mqtt, [message(msgTopic(0, 1), start - 400 * DAY)]);
    expect(await broker.sweepRetained()).toEqual({ scanned: 0, deleted: 0 });
    expect(await listRetainedTopics(broker.aedes, '#')).toHaveLength(1);
  });

  it('rejects a prefix the protocol does not allow', async () => {
    await expect(startTestBroker({ retention: { prefix: 'bad/#' } })).rejects.toThrow(/retention.prefix/);
  });
});

describe('packet size guard', () => {
  it('follows packets across chunk boundaries, including a split length field', () => {
    const check = createPacketSizeGuard(200);
    const first = generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.alloc(150),
      qos: 0,
      dup: false,
      retain: false,
    });
    const second = generate({ cmd: 'pingreq' });
    const stream = Buffer.concat([first, second, first]);
    for (let offset = 0; offset < stream.length; offset += 1) {
      expect(check(stream.subarray(offset, offset + 1))).toBe('ok');
    }
  });

  it('rejects a packet one byte over the limit as soon as its length is known', () => {
    const packet = generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.alloc(150),
      qos: 0,
      dup: false,
      retain: false,
    });
    expect(createPacketSizeGuard(packet.length)(packet)).toBe('ok');
    expect(createPacketSizeGuard(packet.length - 1)(packet.subarray(0, 3))).toBe('too-large');
  });

  it('rejects a fifth remaining-length byte as malformed', () => {
    expect(
      createPacketSizeGuard(Number.MAX_SAFE_INTEGER)(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])),
    ).toBe('malformed');
  });

  it('computes the size of a whole packet from its remaining length', () => {
    expect([0, 127, 128, 16_383, 16_384].map(packetSize)).toEqual([2, 129, 131, 16_386, 16_388]);
  });
});

describe('cli', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  function run(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
    const child = spawn(process.execPath, ['broker/cli.js', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    children.push(child);
    return child;
  }

  async function finished(
    child: ChildProcessWithoutNullStreams,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await withTimeout(once(child, 'exit'), 10_000, 'cli to exit')) as [number | null];
    return { code, stdout, stderr };
  }

  /** Waits for the startup line and returns the URLs it printed. */
  async function startedUrls(child: ChildProcessWithoutNullStreams): Promise<{ mqtt: string; ws: string }> {
    let output = '';
    const match = await withTimeout(
      new Promise<RegExpMatchArray>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = /(mqtt:\/\/[\d.]+:\d+)\s+(ws:\/\/[\d.]+:\d+)/.exec(output);
          if (found) resolve(found);
        });
        child.once('exit', (code) => reject(new Error(`cli exited with ${code} before starting: ${output}`)));
      }),
      10_000,
      'cli to print its URLs',
    );
    return { mqtt: match[1]!, ws: match[2]! };
  }

  async function expectServesAndStops(
    child: ChildProcessWithoutNullStreams,
    signal: NodeJS.Signals,
  ): Promise<void> {
    const urls = await startedUrls(child);
    expect(urls.mqtt).not.toMatch(/:0$/);
    const subscriber = await connectClient(`${urls.ws}/mqtt`);
    const publisher = await connectClient(urls.mqtt);
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('cli/test');
    await publisher.publishAsync('cli/test', 'from the cli broker');
    await log.waitForTopic('cli/test');
    await closeClients([subscriber, publisher]);
    const exit = finished(child);
    child.kill(signal);
    expect((await exit).code).toBe(0);
  }

  it('starts on free ports, prints them, serves, and exits 0 on SIGTERM', async () => {
    await expectServesAndStops(run(['--port', '0', '--ws-port', '0', '--memory']), 'SIGTERM');
  });

  it('takes its settings from MQCHAT_BROKER_* variables and exits 0 on SIGINT', async () => {
    const child = run(['--quiet'], {
      MQCHAT_BROKER_PORT: '0',
      MQCHAT_BROKER_WS_PORT: '0',
      MQCHAT_BROKER_MEMORY: '1',
    });
    await expectServesAndStops(child, 'SIGINT');
  });

  it('--help exits 0 and documents every flag and variable', async () => {
    const { code, stdout } = await finished(run(['--help']));
    expect(code).toBe(0);
    for (const spec of FLAGS) {
      expect(stdout).toContain(`--${spec.flag}`);
      expect(stdout).toContain(spec.env);
    }
    expect(stdout).toBe(helpText());
  });

  it.each([[['--no-such-flag']], [['--port', 'eighty']], [['--port', '70000', '--memory']], [['stray']]])(
    'exits 2 with a message for bad usage: %j',
    async (args) => {
      const { code, stderr } = await finished(run(args));
      expect(code).toBe(2);
      expect(stderr).toMatch(/mqchat broker: .+/);
    },
  );

  it('lets a flag win over its environment variable', () => {
    const config = parseCli(['--port', '1999'], {
      MQCHAT_BROKER_PORT: '2000',
      MQCHAT_BROKER_WS_PORT: '2001',
    });
    expect(config.broker).toMatchObject({ port: 1999, wsPort: 2001 });
    expect(() => parseCli([], { MQCHAT_BROKER_MEMORY: 'maybe' })).toThrow(/MQCHAT_BROKER_MEMORY/);
    expect(parseCli(['--retention-days', '7', '--prefix', 'x/y'], {}).broker.retention).toEqual({
      maxAgeDays: 7,
      prefix: 'x/y',
    });
  });
});
