// The delivery hot path. Live QoS 0 deliveries are encoded once per message (broker/fanout.js): the bytes
// must be exactly what aedes' own path (mqtt-packet) would write, and one message's bytes must never reach
// another's subscribers. A TCP socket's writes in one turn leave together (batchWrites, broker/index.js).

import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import type { MqttClient } from 'mqtt';
import { generate } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeQos0Publish } from '../../broker/fanout.js';
import { batchWrites, startBroker, type RunningBroker } from '../../broker/index.js';
import {
  closeClients,
  connectClient,
  MessageLog,
  RawMqttClient,
  uniqueClientId,
} from '../helpers/mqtt-client.js';

let counter = 0;
/** A packet as aedes hands it to a delivery: a copy carrying the publish's broker-wide id. */
const delivered = (fields: { topic: string; payload: Buffer | string; dup?: boolean; retain?: boolean }) => ({
  brokerId: 'broker-a',
  brokerCounter: ++counter,
  qos: 0 as const,
  dup: false,
  retain: false,
  ...fields,
});

describe('encodeQos0Publish', () => {
  // Remaining length = 2 + topic + payload; each size sits on a boundary of the length field (1 to 4 bytes).
  it.each([0, 1, 124, 125, 126, 16_379, 16_380, 2_097_147, 2_097_148])(
    'writes what mqtt-packet writes for a %i-byte payload',
    (size) => {
      const packet = delivered({ topic: 'a/b', payload: Buffer.alloc(size, 0x62) });
      expect(encodeQos0Publish(packet).equals(generate({ cmd: 'publish', ...packet }))).toBe(true);
    },
  );

  it.each([
    ['a multi-byte topic and payload', { topic: 'räume/ü', payload: 'grüße 👋' }],
    ['the DUP flag', { topic: 't', payload: Buffer.from('d'), dup: true }],
    ['the RETAIN flag', { topic: 't', payload: Buffer.from('r'), retain: true }],
  ])('writes what mqtt-packet writes for %s', (_name, fields) => {
    const packet = delivered(fields);
    expect(encodeQos0Publish(packet).equals(generate({ cmd: 'publish', ...packet }))).toBe(true);
  });

  it('encodes a message once for all its copies, and each other message anew', () => {
    const payload = Buffer.from('same buffer');
    const message = delivered({ topic: 'one', payload });
    const first = encodeQos0Publish({ ...message });
    // aedes gives every subscriber its own copy of the packet: same topic, payload and counter.
    expect(encodeQos0Publish({ ...message })).toBe(first);

    // The same payload Buffer published again, on another topic or changed in place, is another message.
    const otherTopic = encodeQos0Publish(delivered({ topic: 'two', payload }));
    expect(otherTopic).not.toBe(first);
    expect(
      otherTopic.equals(
        generate({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 'two', payload }),
      ),
    ).toBe(true);
    payload.write('SAME');
    const changed = encodeQos0Publish(delivered({ topic: 'one', payload }));
    expect(changed.subarray(-payload.length).toString()).toBe('SAME buffer');
    expect(encodeQos0Publish({ ...message, retain: true })[0]).toBe(0x31);
  });
});

describe('QoS 0 fan-out', () => {
  let broker: RunningBroker;
  const clients: MqttClient[] = [];
  const raws: RawMqttClient[] = [];

  beforeEach(async () => {
    broker = await startBroker({ port: 0, wsPort: 0, memory: true, logger: 'quiet', retention: false });
  });
  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.destroy();
    await closeClients(clients.splice(0));
    await broker.close();
  });

  it('delivers every message, in order, to subscribers over TCP and WebSocket at either QoS', async () => {
    const topic = `fanout/${uniqueClientId()}`;
    const logs: MessageLog[] = [];
    for (const [url, qos] of [
      [broker.urls.mqtt, 0],
      [`${broker.urls.ws}/mqtt`, 0],
      [`${broker.urls.ws}/mqtt`, 1],
    ] as const) {
      const client = await connectClient(url);
      clients.push(client);
      logs.push(new MessageLog(client));
      await client.subscribeAsync(`${topic}/+`, { qos });
    }
    const { raw } = await RawMqttClient.connect(broker.ports.mqtt, { clientId: uniqueClientId('raw') });
    raws.push(raw);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${topic}/+`, qos: 1 }] });
    await raw.next('suback');

    // One payload Buffer for several messages, changed in place between two of them.
    const payload = Buffer.from('first');
    const publish = (subtopic: string) =>
      new Promise<void>((resolve, reject) =>
        broker.aedes.publish(
          { cmd: 'publish', topic: `${topic}/${subtopic}`, payload, qos: 0, retain: false, dup: false },
          (error) => (error ? reject(error) : resolve()),
        ),
      );
    await Promise.all([publish('a'), publish('b')]);
    payload.write('again');
    await publish('a');
    const expected = [
      ['a', 'first'],
      ['b', 'first'],
      ['a', 'again'],
    ];

    for (const log of logs) {
      await log.waitForCount(expected.length);
      expect(log.messages.map((m) => [m.topic.split('/').pop(), m.text])).toEqual(expected);
    }
    for (const [subtopic, text] of expected) {
      const packet = await raw.next('publish');
      // A QoS 0 message stays QoS 0 for a QoS 1 subscription, without a packet id [MQTT-3.8.4-6].
      expect(packet).toMatchObject({ topic: `${topic}/${subtopic}`, qos: 0, retain: false, dup: false });
      expect(packet.messageId).toBeUndefined();
      expect(String(packet.payload)).toBe(text);
    }
  });
});

describe('batchWrites', () => {
  it('sends what a TCP socket is given in one turn together, once the turn’s immediates have run', async () => {
    const received: Buffer[] = [];
    const server = createServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    socket.setNoDelay(true);
    batchWrites(socket);
    try {
      setImmediate(() => socket.write('a'));
      setImmediate(() => socket.write('b'));
      await new Promise((resolve) => setImmediate(resolve));
      expect(socket.writableCorked).toBe(1);
      expect(socket.writableLength).toBe(2);
      await new Promise((resolve) => setImmediate(resolve));
      expect(socket.writableCorked).toBe(0);
      await vi.waitFor(() => expect(Buffer.concat(received).toString()).toBe('ab'));
    } finally {
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
