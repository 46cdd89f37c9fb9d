import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../broker/index.js';
import { ChatClient, type ChatClientOptions } from '../../src/core/chat-client.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import { mqttTransportFactory } from '../../src/transport/mqtt-transport.ts';
import { timeline, until } from './fixtures.ts';

export type Broker = Awaited<ReturnType<typeof startBroker>>;

/** The bundled broker in-process on free ports, quiet; `dataDir` keeps retained messages on disk. */
export const bundledBroker = async (options: { dataDir?: string; port?: number; wsPort?: number } = {}) =>
  startBroker({
    port: options.port ?? 0,
    wsPort: options.wsPort ?? 0,
    logger: 'quiet',
    ...(options.dataDir === undefined ? { memory: true } : { dataDir: options.dataDir }),
  });

export const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mqchat-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
};

/** A chat client speaking real MQTT over WebSocket (MQTT.js) to `url`. */
export const realClient = async (url: string, name: string, overrides: Partial<ChatClientOptions> = {}) =>
  new ChatClient({
    transport: mqttTransportFactory({ random: () => 0 }),
    url,
    store: new MemoryStore(),
    identity: await generateIdentity(),
    name,
    ...overrides,
  });

/** Starts a real client, waits for it to be online and joins `room`; returns it with its timeline. */
export const joinedReal = async (
  url: string,
  name: string,
  room = 'lobby',
  overrides: Partial<ChatClientOptions> = {},
) => {
  const client = await realClient(url, name, overrides);
  const seen = timeline(client, room);
  await client.start();
  await until(() => client.transport.status === 'online', `${name} online`, 10_000);
  await client.join(room);
  return { client, seen };
};
