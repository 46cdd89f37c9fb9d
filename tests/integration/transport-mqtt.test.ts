// The transport contract (tests/contract/transport-suite.ts) on MQTT.js (src/transport/mqtt-transport.ts)
// against the bundled aedes broker over WebSocket: the same behaviours the memory twin promises.

import { afterAll, beforeAll } from 'vitest';
import { startBroker, type RunningBroker } from '../../broker/index.js';
import { MqttTransport } from '../../src/transport/mqtt-transport.ts';
import { transportSuite } from '../contract/transport-suite.ts';
import { until } from '../helpers/fixtures.ts';

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startBroker({ port: 0, wsPort: 0, memory: true, logger: 'quiet', retention: false });
});

afterAll(async () => {
  await broker.close();
});

transportSuite('MQTT.js + the bundled broker over WebSocket', () => ({
  // random 0: the shortest reconnect delay of the backoff (CONN-2).
  make: (options) => new MqttTransport({ url: broker.urls.ws, random: () => 0, ...options }),
  // A network failure: the socket is destroyed without DISCONNECT, so aedes publishes the will.
  cut: async (clientId) => {
    const clients = (broker.aedes as unknown as { clients: Record<string, { conn: { destroy(): void } }> })
      .clients;
    await until(() => clients[clientId] !== undefined, `${clientId} connected`, 10_000);
    clients[clientId]!.conn.destroy();
  },
}));
