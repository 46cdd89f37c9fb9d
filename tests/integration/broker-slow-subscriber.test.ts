// A subscriber that stops reading its socket (broker/slow-subscribers.js): it must not stall the
// publisher or the other subscribers of the same topic, and what the broker queues for it stays bounded.
// Without the guard, aedes waits for the stuck socket to drain before it reads the publisher's next
// packet, so the sentinel below would arrive only after `drainTimeout` (60 s) dropped the stuck client.

import type { MqttClient } from 'mqtt';
import { generate } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startBroker, type RunningBroker } from '../../broker/index.js';
import { queuedBytes } from '../../broker/slow-subscribers.js';
import {
  closeClients,
  connectClient,
  MessageLog,
  RawMqttClient,
  uniqueClientId,
  withTimeout,
} from '../helpers/mqtt-client.js';

const QOS0_LIMIT = 64 * 1024;
const LIMIT = 512 * 1024;
const PAYLOAD = Buffer.alloc(16 * 1024, 0x61);
const TOPIC = 'slow/topic';

/** A subscriber that sends CONNECT and SUBSCRIBE, waits for SUBACK, then stops reading its socket. */
interface StuckSubscriber {
  clientId: string;
  close: () => void;
}

const stuckOverTcp = async (broker: RunningBroker, qos: 0 | 1): Promise<StuckSubscriber> => {
  const clientId = uniqueClientId('stuck');
  const { raw } = await RawMqttClient.connect(broker.ports.mqtt, { clientId });
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos }] });
  await raw.next('suback');
  raw.socket.pause();
  return { clientId, close: () => raw.destroy() };
};

const stuckOverWebSocket = async (broker: RunningBroker, qos: 0 | 1): Promise<StuckSubscriber> => {
  const clientId = uniqueClientId('stuck');
  const ws = new WebSocket(`${broker.urls.ws}/mqtt`, 'mqtt');
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        ws.send(generate({ cmd: 'connect', clientId, protocolVersion: 4, clean: true, keepalive: 0 }));
        ws.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: TOPIC, qos }] }));
      });
      // CONNACK and SUBACK may share a frame; SUBACK's first byte is 0x90.
      ws.on('message', (data: Buffer) => data.includes(0x90) && resolve());
      ws.once('error', reject);
    }),
    5_000,
    'stuck WebSocket subscriber to get SUBACK',
  );
  ws.pause();
  return { clientId, close: () => ws.terminate() };
};

describe.each([
  ['TCP', stuckOverTcp],
  ['WebSocket', stuckOverWebSocket],
] as const)('a subscriber that stops reading, over %s', (_transport, stuck) => {
  let broker: RunningBroker;
  const clients: MqttClient[] = [];
  const closers: (() => void)[] = [];

  beforeEach(async () => {
    broker = await startBroker({
      port: 0,
      wsPort: 0,
      memory: true,
      logger: 'quiet',
      retention: false,
      maxQueuedQos0Bytes: QOS0_LIMIT,
      maxQueuedBytes: LIMIT,
    });
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await closeClients(clients.splice(0), true);
    await broker.close();
  });

  const setUp = async (qos: 0 | 1) => {
    const slow = await stuck(broker, qos);
    closers.push(slow.close);
    const normal = await connectClient(broker.urls.ws + '/mqtt');
    const publisher = await connectClient(broker.urls.mqtt);
    clients.push(normal, publisher);
    const log = new MessageLog(normal);
    await normal.subscribeAsync(TOPIC, { qos });
    return { slow, log, publisher };
  };

  /**
   * Publishes until `done` holds, at most `max` messages, one at a time: each waits until the normal
   * subscriber has it, so only the stuck subscriber ever falls behind. Returns how many were sent.
   */
  const publishUntil = async (
    publisher: MqttClient,
    log: MessageLog,
    qos: 0 | 1,
    done: () => boolean,
    max = 4000,
  ) => {
    let sent = 0;
    while (!done()) {
      if (sent >= max) throw new Error(`still not done after ${max} publishes`);
      await publisher.publishAsync(TOPIC, PAYLOAD, { qos });
      sent += 1;
      await log.waitForCount(sent);
    }
    return sent;
  };

  it('drops QoS 0 for it once its queue is full, and everyone else keeps receiving', async () => {
    const { slow, log, publisher } = await setUp(0);
    const sent = await publishUntil(publisher, log, 0, () => broker.slowSubscribers.droppedQos0 > 10);
    // The stuck connection holds at most the limit plus the packet that crossed it.
    const { clients: connected } = broker.aedes as unknown as {
      clients: Record<string, { conn: Parameters<typeof queuedBytes>[0] } | undefined>;
    };
    const conn = connected[slow.clientId]?.conn;
    if (!conn) throw new Error('the stuck subscriber was disconnected');
    expect(queuedBytes(conn)).toBeLessThanOrEqual(QOS0_LIMIT + 2 * PAYLOAD.length);
    await publisher.publishAsync(TOPIC, 'sentinel', { qos: 0 });
    await log.waitFor((message) => message.text === 'sentinel');
    expect(log.messages.length).toBe(sent + 1);
    expect(broker.slowSubscribers.closed).toBe(0);
  });

  it('closes it when QoS 1 messages pile up past maxQueuedBytes, and delivers everything to the rest', async () => {
    const { log, publisher } = await setUp(1);
    const errors: string[] = [];
    broker.aedes.on('clientError', (_client, error) => errors.push(error.message));
    const sent = await publishUntil(publisher, log, 1, () => broker.slowSubscribers.closed > 0);
    await publisher.publishAsync(TOPIC, 'sentinel', { qos: 1 });
    await log.waitFor((message) => message.text === 'sentinel');
    expect(log.messages.length).toBe(sent + 1);
    expect(broker.slowSubscribers).toEqual({ droppedQos0: 0, closed: 1 });
    expect(errors.some((message) => message.startsWith('subscriber too slow'))).toBe(true);
  });
});

describe('a QoS 0 subscriber over TCP that never drains', () => {
  it('is still dropped after drainTimeout, while the others keep receiving', async () => {
    const broker = await startBroker({
      port: 0,
      wsPort: 0,
      memory: true,
      logger: 'quiet',
      retention: false,
      maxQueuedQos0Bytes: QOS0_LIMIT,
      drainTimeout: 300,
    });
    const slow = await stuckOverTcp(broker, 0);
    const normal = await connectClient(broker.urls.mqtt);
    const publisher = await connectClient(broker.urls.mqtt);
    try {
      const log = new MessageLog(normal);
      await normal.subscribeAsync(TOPIC, { qos: 0 });
      const { clients: connected } = broker.aedes as unknown as { clients: Record<string, unknown> };
      // Live QoS 0 skips aedes' write (broker/fanout.js) but still reports a full socket to aedes.
      for (let sent = 1; connected[slow.clientId] !== undefined; sent += 1) {
        if (sent > 4000) throw new Error('the stuck subscriber was never dropped');
        await publisher.publishAsync(TOPIC, PAYLOAD, { qos: 0 });
        await log.waitForCount(sent);
      }
      await publisher.publishAsync(TOPIC, 'sentinel', { qos: 0 });
      await log.waitFor((message) => message.text === 'sentinel');
    } finally {
      slow.close();
      await closeClients([normal, publisher], true);
      await broker.close();
    }
  });
});
