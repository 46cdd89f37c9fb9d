// Retained lookups of the bundled broker (broker/retained.js), in memory and on level: what a SUBSCRIBE
// replays, and that finding it costs about what it returns, however much other rooms hold (HIST-6).
//
// Publishes use QoS 2: aedes sends PUBACK before it stores a QoS 1 message, but PUBREC only after, so
// a QoS 2 publish that resolved is in persistence. Absence is never checked by sleeping: a SUBSCRIBE replays
// its retained messages the most recently stored first, so the sentinel topic is stored first of all and
// comes last; once it arrives, nothing before it can still come.

import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../broker/index.js';
import { retainedLookupStats } from '../../broker/retained.js';
import { listRetainedTopics, retainedStore } from '../../broker/retention.js';
import { closeClients, connectClient, MessageLog } from '../helpers/mqtt-client.js';
import { tempDir } from '../helpers/real.js';

const ROOM = 'mqchat/v1/room/lobby';
const id = (n: number) => n.toString(16).padStart(32, '0');
const ELSEWHERE = 100_000;

type Kind = 'memory' | 'level';

describe.each<Kind>(['memory', 'level'])('retained lookups, %s persistence', (kind) => {
  let broker: RunningBroker;
  let dataDir: { dir: string; remove: () => Promise<void> } | undefined;
  const clients: MqttClient[] = [];

  const start = () =>
    startBroker({
      port: 0,
      wsPort: 0,
      logger: 'quiet',
      retention: false,
      ...(dataDir ? { dataDir: dataDir.dir } : { memory: true }),
    });

  beforeAll(async () => {
    if (kind === 'level') dataDir = await tempDir();
    broker = await start();
    const publisher = await connectClient(broker.urls.mqtt);
    const retained = [
      'zz/sentinel',
      `$private/${ROOM}`,
      ROOM,
      `${ROOM}/head`,
      `${ROOM}/msg/12/${id(1)}`,
      `${ROOM}/msg/12/${id(2)}`,
      `${ROOM}/msg/12/${id(3)}/deeper`,
      `${ROOM}/msg/13/${id(4)}`,
      `${ROOM}/react/12/${id(1)}/alice`,
      'mqchat/v1/room/lobby-2/msg/12/x',
    ];
    for (const topic of retained) await publisher.publishAsync(topic, topic, { qos: 2, retain: true });
    await closeClients([publisher]);
  });

  afterAll(async () => {
    await closeClients(clients.splice(0));
    await broker.close();
    await dataDir?.remove();
  });

  const subscriber = async () => {
    const client = await connectClient(broker.urls.mqtt);
    clients.push(client);
    return { client, log: new MessageLog(client) };
  };

  const sorted = (topics: string[]) => [...topics].sort();

  it('replays an exact topic, a last-level + and a # filter with the retain flag [MQTT-3.3.1-8]', async () => {
    const { client, log } = await subscriber();
    await client.subscribeAsync(`${ROOM}/head`, { qos: 1 });
    const head = await log.waitForTopic(`${ROOM}/head`);
    expect([head.text, head.packet.retain]).toEqual([`${ROOM}/head`, true]);

    await client.subscribeAsync(`${ROOM}/msg/12/+`, { qos: 1 });
    const page = await log.waitForCount(2, (m) => m.topic.startsWith(`${ROOM}/msg/12/`));
    expect(sorted(page.map((m) => m.topic))).toEqual([`${ROOM}/msg/12/${id(1)}`, `${ROOM}/msg/12/${id(2)}`]);

    // '#' matches the parent level too [MQTT-4.7.1-2], but not a room whose name merely starts the same.
    expect(sorted(await listRetainedTopics(broker.aedes, `${ROOM}/#`))).toEqual(
      sorted([
        ROOM,
        `${ROOM}/head`,
        `${ROOM}/msg/12/${id(1)}`,
        `${ROOM}/msg/12/${id(2)}`,
        `${ROOM}/msg/12/${id(3)}/deeper`,
        `${ROOM}/msg/13/${id(4)}`,
        `${ROOM}/react/12/${id(1)}/alice`,
      ]),
    );
    expect(sorted(await listRetainedTopics(broker.aedes, `${ROOM}/+/12/+`))).toEqual([
      `${ROOM}/msg/12/${id(1)}`,
      `${ROOM}/msg/12/${id(2)}`,
    ]);
    expect(await listRetainedTopics(broker.aedes, 'mqchat/v1/room/+/msg/12/x')).toEqual([
      'mqchat/v1/room/lobby-2/msg/12/x',
    ]);
  });

  it('never matches $ topics against a filter that starts with a wildcard [MQTT-4.7.2-1]', async () => {
    const all = await listRetainedTopics(broker.aedes, '#');
    expect(all).toHaveLength(9);
    expect(all.some((topic) => topic.startsWith('$'))).toBe(false);
    expect(await listRetainedTopics(broker.aedes, '+/mqchat/v1/room/lobby')).toEqual([]);
    expect(await listRetainedTopics(broker.aedes, '$private/#')).toEqual([`$private/${ROOM}`]);

    const { client, log } = await subscriber();
    await client.subscribeAsync('#', { qos: 1 });
    await log.waitForTopic('zz/sentinel');
    expect(log.messages).toHaveLength(9);
    expect(log.topics.filter((topic) => topic.startsWith('$'))).toEqual([]);
  });

  it('forgets a topic cleared by a zero-length retained PUBLISH [MQTT-3.3.1-10]', async () => {
    const publisher = await connectClient(broker.urls.mqtt);
    clients.push(publisher);
    const topic = `${ROOM}/msg/14/${id(5)}`;
    await publisher.publishAsync(topic, 'soon gone', { qos: 2, retain: true });
    await publisher.publishAsync(`${ROOM}/msg/14/${id(6)}`, 'stays', { qos: 2, retain: true });
    expect(await listRetainedTopics(broker.aedes, `${ROOM}/msg/14/+`)).toHaveLength(2);
    await publisher.publishAsync(topic, '', { qos: 2, retain: true });
    expect(await listRetainedTopics(broker.aedes, `${ROOM}/msg/14/+`)).toEqual([`${ROOM}/msg/14/${id(6)}`]);
    expect(await listRetainedTopics(broker.aedes, topic)).toEqual([]);
    // Clearing the last topic under a level leaves nothing behind for '#' either.
    await publisher.publishAsync(`${ROOM}/msg/14/${id(6)}`, '', { qos: 2, retain: true });
    expect(await listRetainedTopics(broker.aedes, `${ROOM}/msg/14/#`)).toEqual([]);
    expect(await listRetainedTopics(broker.aedes, '#')).toHaveLength(9);
  });

  it(`looks at the matches only when ${ELSEWHERE.toLocaleString('en')} messages are retained elsewhere`, async () => {
    const store = retainedStore(broker.aedes);
    // Straight into persistence: 100k PUBLISHes through MQTT would take most of the test's time.
    for (let start = 0; start < ELSEWHERE; start += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => {
          const n = start + i;
          const topic = `mqchat/v1/room/busy-${n % 50}/msg/${Math.floor(n / 50) % 200}/${id(n)}`;
          return store.storeRetained({
            cmd: 'publish',
            topic,
            payload: Buffer.from('x'),
            qos: 0,
            retain: true,
            dup: false,
          });
        }),
      );
    }
    const stats = retainedLookupStats(broker.aedes);
    if (!stats) throw new Error('the broker does not count its retained lookups');

    // A join: the head marker (exact), page markers and a page of messages (wildcard in the last level).
    const before = { ...stats };
    const { client, log } = await subscriber();
    await client.subscribeAsync([`${ROOM}/head`, `${ROOM}/page/+`, `${ROOM}/msg/12/+`], { qos: 1 });
    await log.waitForCount(3);
    const lookups = stats.lookups - before.lookups;
    const visited = stats.visited - before.visited;
    expect(lookups).toBe(3);
    // Matches plus the levels walked down to them (memory) or the one-record ranges read (level).
    expect(visited).toBeLessThanOrEqual(log.messages.length + 3 * 8);
    // A filter that starts with a wildcard still finds its matches among everything (level reads every
    // key; the tree follows the levels after the '+').
    expect(await listRetainedTopics(broker.aedes, '+/v1/room/lobby/head')).toEqual([`${ROOM}/head`]);
  });

  it('replays the most recently stored first, whatever the topics, so a joining client sees the newest messages first', async () => {
    const publisher = await connectClient(broker.urls.mqtt);
    clients.push(publisher);
    // Ids that sort the other way round from the order they are stored in (key order on level).
    const topics = [9, 8, 7, 6, 5].map((n) => `mqchat/v1/room/ordered/msg/15/${id(n)}`);
    for (const topic of topics) await publisher.publishAsync(topic, topic, { qos: 2, retain: true });
    // An edit stores the oldest again: it becomes the newest.
    await publisher.publishAsync(topics[0]!, 'edited', { qos: 2, retain: true });
    const { client, log } = await subscriber();
    // Filter by filter in the SUBSCRIBE's order: the head marker, stored long before, still comes first.
    await client.subscribeAsync([`${ROOM}/head`, 'mqchat/v1/room/ordered/msg/15/+'], { qos: 1 });
    await log.waitForCount(6);
    expect(log.topics).toEqual([`${ROOM}/head`, topics[0], ...topics.slice(1).reverse()]);
  });

  it(
    kind === 'level'
      ? 'keeps retained messages across a restart'
      : 'starts empty after a restart (--memory keeps nothing)',
    async () => {
      await closeClients(clients.splice(0));
      await broker.close();
      broker = await start();
      const kept = sorted(await listRetainedTopics(broker.aedes, `${ROOM}/msg/+/+`));
      if (kind === 'memory') {
        expect(kept).toEqual([]);
        return;
      }
      expect(kept).toEqual([`${ROOM}/msg/12/${id(1)}`, `${ROOM}/msg/12/${id(2)}`, `${ROOM}/msg/13/${id(4)}`]);
      const { client, log } = await subscriber();
      await client.subscribeAsync(`${ROOM}/msg/12/+`, { qos: 1 });
      await log.waitForCount(2);
      // The order of storing survives the restart too.
      expect(log.topics).toEqual([`${ROOM}/msg/12/${id(2)}`, `${ROOM}/msg/12/${id(1)}`]);
    },
  );
});

describe('a retained message whose store is overtaken', () => {
  it('still reaches live subscribers that got the later message first (aedes numbers before storing)', async () => {
    const broker = await startBroker({ port: 0, wsPort: 0, memory: true, logger: 'quiet', retention: false });
    const clients: MqttClient[] = [];
    try {
      // Hold the store of one retained message until the test lets it go, as a busy level database may.
      const persistence = (broker.aedes as unknown as { persistence: Persistence }).persistence;
      const write = persistence.writeRetained;
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      persistence.writeRetained = async (packet) => {
        if (packet.topic === 'race/slow') await held;
        return write(packet);
      };
      const subscriber = await connectClient(broker.urls.mqtt);
      const [slow, fast] = [await connectClient(broker.urls.mqtt), await connectClient(broker.urls.mqtt)];
      clients.push(subscriber, slow, fast);
      const log = new MessageLog(subscriber);
      await subscriber.subscribeAsync('race/#', { qos: 1 });
      // PUBACK comes before the store, so this resolves while the store is held.
      await slow.publishAsync('race/slow', 'stored late', { qos: 1, retain: true });
      await fast.publishAsync('race/fast', 'not retained', { qos: 1 });
      await log.waitForTopic('race/fast');
      release();
      expect((await log.waitForTopic('race/slow')).text).toBe('stored late');
      expect(log.topics).toEqual(['race/fast', 'race/slow']);
    } finally {
      await closeClients(clients);
      await broker.close();
    }
  });
});

interface Persistence {
  writeRetained: (packet: { topic: string }) => Promise<void>;
}
