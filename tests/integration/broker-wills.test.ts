// Last Wills across a broker restart (broker/wills.js): a restart is not the clients going away, so their
// wills are not published when the broker stops; a will an earlier broker process stored is published
// once `willGrace` has passed, unless its client came back (PROTOCOL.md PRES-3).

import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../broker/index.js';
import { listRetainedTopics } from '../../broker/retention.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { closeClients, connectClient, MessageLog, uniqueClientId } from '../helpers/mqtt-client.js';
import { tempDir } from '../helpers/real.js';

const brokers: RunningBroker[] = [];
const processes: BrokerProcess[] = [];
const clients: MqttClient[] = [];
const dirs: { remove: () => Promise<void> }[] = [];

afterEach(async () => {
  await closeClients(clients.splice(0), true);
  for (const broker of brokers.splice(0)) await broker.close();
  for (const proc of processes.splice(0)) await proc.close();
  for (const dir of dirs.splice(0)) await dir.remove();
});

const dataDir = async () => {
  const dir = await tempDir();
  dirs.push(dir);
  return dir.dir;
};

const start = async (dir: string, willGrace = 600_000) => {
  const broker = await startBroker({
    port: 0,
    wsPort: 0,
    logger: 'quiet',
    retention: false,
    dataDir: dir,
    willGrace,
  });
  brokers.push(broker);
  return broker;
};

const stop = async (broker: RunningBroker) => {
  brokers.splice(brokers.indexOf(broker), 1);
  await broker.close();
};

/** A client with a retained will on `will/<name>`, as mqchat's `gone` is. */
const withWill = async (url: string, name: string, clientId = uniqueClientId(name)) => {
  const options: IClientOptions = {
    clientId,
    will: { topic: `will/${name}`, payload: Buffer.from(`${name} is gone`), qos: 1, retain: true },
  };
  const client = await connectClient(url, options);
  clients.push(client);
  return { client, clientId };
};

const watch = async (broker: RunningBroker) => {
  const watcher = await connectClient(broker.urls.mqtt);
  clients.push(watcher);
  const log = new MessageLog(watcher);
  await watcher.subscribeAsync('will/#', { qos: 1 });
  return log;
};

describe('wills across a restart', () => {
  it('keeps the wills of connected clients when the broker shuts down, instead of publishing them', async () => {
    const dir = await dataDir();
    const first = await start(dir);
    await withWill(first.urls.mqtt, 'alice');
    await stop(first);
    const second = await start(dir);
    expect(await listRetainedTopics(second.aedes, 'will/#')).toEqual([]);
    // Still stored: published later if alice does not come back.
    expect(await second.publishLeftoverWills()).toBe(1);
    expect(await listRetainedTopics(second.aedes, 'will/#')).toEqual(['will/alice']);
  });

  it('publishes the wills a crashed broker left, except for clients that came back', async () => {
    const proc = await spawnBroker({ dataDir: await dataDir() });
    processes.push(proc);
    await withWill(proc.urls.mqtt, 'alice');
    const bob = await withWill(proc.urls.mqtt, 'bob');
    await proc.kill();

    const broker = await start(proc.dataDir);
    // Bob reconnects (same client id, same will); Alice does not.
    await withWill(broker.urls.mqtt, 'bob', bob.clientId);
    const log = await watch(broker);
    expect(await broker.publishLeftoverWills()).toBe(1);
    expect((await log.waitForTopic('will/alice')).text).toBe('alice is gone');
    expect(await listRetainedTopics(broker.aedes, 'will/#')).toEqual(['will/alice']);
    // Published once: a second run finds nothing left.
    expect(await broker.publishLeftoverWills()).toBe(0);
  });

  it('publishes them by itself once willGrace has passed', async () => {
    const dir = await dataDir();
    const first = await start(dir);
    await withWill(first.urls.mqtt, 'carol');
    await stop(first);
    const broker = await start(dir, 300);
    const log = await watch(broker);
    expect((await log.waitForTopic('will/carol')).text).toBe('carol is gone');
  });

  it('still publishes a will when its client dies while the broker runs [MQTT-3.1.2-8]', async () => {
    const broker = await start(await dataDir());
    const log = await watch(broker);
    const { client } = await withWill(broker.urls.mqtt, 'dave');
    client.stream.destroy();
    expect((await log.waitForTopic('will/dave')).text).toBe('dave is gone');
  });
});
