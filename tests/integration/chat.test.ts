import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../src/core/chat-client.ts';
import { encodeEnvelope } from '../../src/protocol/envelope.ts';
import { HISTORY_WINDOW, PAGE_SIZE } from '../../src/protocol/history.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { makeMessage } from '../../src/protocol/messages.ts';
import { topics } from '../../src/protocol/topics.ts';
import { byTimeline } from '../../src/storage/store.ts';
import { until } from '../helpers/fixtures.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { bundledBroker, joinedReal, realClient, tempDir } from '../helpers/real.ts';

const t = topics();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface RunningBroker {
  urls: { mqtt: string; ws: string };
  close(): Promise<void>;
}

const join = async (b: RunningBroker, name: string, room = 'lobby') => {
  const joined = await joinedReal(b.urls.ws, name, room);
  cleanup.push(() => joined.client.close());
  return joined;
};

const send = async (client: ChatClient, text: string, room = 'lobby') => {
  const sent = await client.send(room, text);
  if (typeof sent === 'string') throw new Error(sent);
  return sent;
};

/** A raw MQTT.js publisher, for payloads no well-behaved client would send. */
const raw = async (url: string) => {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  cleanup.push(() => client.endAsync());
  return client;
};

/** The same rules, checked through every real broker: aedes (MQTT 3.1.1) and Mosquitto (MQTT 5). */
const brokers: [string, 4 | 5, () => Promise<RunningBroker>][] = [
  ['bundled aedes, MQTT 3.1.1', 4, () => bundledBroker()],
  ['Mosquitto 2.0, MQTT 5', 5, () => startMosquitto()],
];

describe.each(brokers)('two clients through %s over WebSocket', (_name, version, start) => {
  const broker = async () => {
    const running = await start();
    cleanup.push(() => running.close());
    return running;
  };

  it('exchange messages live, each shown once to both, attributed to its author (MSG-1, MSG-4)', async () => {
    const b = await broker();
    const alice = await join(b, 'Alice');
    const bob = await join(b, 'Bob');
    for (let i = 0; i < 20; i++) {
      await send(alice.client, `a${i}`);
      await send(bob.client, `b${i}`);
    }
    await until(() => alice.seen.size === 40 && bob.seen.size === 40, 'all 40 on both', 15_000);
    await until(() => [...alice.seen.values()].every((m) => m.state === 'sent'), 'all acknowledged');
    for (const seen of [alice.seen, bob.seen]) {
      for (const message of seen.values()) {
        const author = message.text.startsWith('a') ? alice.client : bob.client;
        expect(message.from).toBe(author.identity.userId);
      }
    }
  });

  it('connects with MQTT 5 where spoken and falls back to 3.1.1 otherwise (CONN-3)', async () => {
    const b = await broker();
    const alice = await realClient(b.urls.ws, 'Alice');
    cleanup.push(() => alice.close());
    let used: number | undefined;
    alice.on('status', (s) => (used = s.protocolVersion ?? used));
    await alice.start();
    await until(() => alice.transport.status === 'online', 'online');
    expect(used).toBe(version);
  });

  it('gives a late joiner the newest HISTORY_WINDOW messages across pages (HIST-2, HIST-6)', async () => {
    const b = await broker();
    const alice = await join(b, 'Alice');
    const total = 2 * PAGE_SIZE + 150;
    for (let i = 0; i < total; i++) void send(alice.client, `m${i}`);
    await until(
      () => [...alice.seen.values()].filter((m) => m.state === 'sent').length === total,
      'sent',
      30_000,
    );
    const newest = [...alice.seen.values()].sort(byTimeline).slice(-HISTORY_WINDOW);
    const bob = await join(b, 'Bob');
    await until(() => newest.every((m) => bob.seen.has(m.id)), 'the newest HISTORY_WINDOW', 15_000);
    const pages = new Set([...alice.seen.values()].map((m) => m.page));
    expect(pages).toEqual(new Set([0, 1, 2]));
  });

  it('does not show a forged message as from the user it names (SIG-3)', async () => {
    const b = await broker();
    const alice = await join(b, 'Alice');
    const bob = await join(b, 'Bob');
    const mallory = await generateIdentity();
    const publisher = await raw(b.urls.mqtt);
    const forged = await makeMessage(t, mallory, {
      room: 'lobby',
      page: 0,
      id: 'e'.repeat(32),
      name: 'Alice',
      ts: Date.now(),
      text: 'forged',
    });
    await publisher.publishAsync(
      forged.topic,
      Buffer.from(encodeEnvelope({ ...forged.envelope, from: alice.client.identity.userId })),
      {
        qos: 1,
        retain: true,
      },
    );
    await until(() => bob.client.rejections.counts.signature === 1, 'forgery rejected');
    await send(alice.client, 'genuine');
    await until(() => bob.seen.size === 1, 'genuine message');
    expect([...bob.seen.values()].map((m) => m.text)).toEqual(['genuine']);
  });

  it('survives 1,000 malformed payloads on room topics and keeps working (ENV-1, ENV-2)', async () => {
    const b = await broker();
    const bob = await join(b, 'Bob');
    const publisher = await raw(b.urls.mqtt);
    const junk = (i: number): Buffer => {
      switch (i % 5) {
        case 0:
          return Buffer.from(Array.from({ length: 1 + (i % 300) }, (_, j) => (i * 31 + j * 17) & 0xff));
        case 1:
          return Buffer.from('{"v":1,"t":"msg","id":"'.slice(0, 1 + (i % 20)));
        case 2:
          return Buffer.from(
            JSON.stringify({ v: 1, t: 'msg', id: i, from: [], ts: 'x', text: {}, sig: null }),
          );
        case 3:
          // Ten oversize payloads: Mosquitto's WebSocket listener needs seconds for each megabyte.
          return i % 100 === 3
            ? Buffer.alloc(70_000, 0x7b)
            : Buffer.from(`{"v":1,"t":"msg","ts":1e999,"x":${i}}`);
        default:
          return Buffer.from(`{"__proto__":{"polluted":${i}},"v":1}`);
      }
    };
    // QoS 1 and in batches: a burst of QoS 0 would be dropped by Mosquitto's queue limits, not by us.
    for (let batch = 0; batch < 1000; batch += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const i = batch + j;
          const id = i.toString(16).padStart(32, '0');
          return publisher.publishAsync(t.message('lobby', 0, id), junk(i), { qos: 1, retain: false });
        }),
      );
    }
    await until(() => bob.client.rejections.total === 1000, '1000 rejections', 20_000);
    expect(bob.client.rejections.counts.oversize).toBe(10);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const alice = await join(b, 'Alice');
    await send(alice.client, 'still here');
    await until(() => [...bob.seen.values()].some((m) => m.text === 'still here'), 'bob still chats');
    expect(bob.seen.size).toBe(1);
  });
});

describe('the bundled broker keeps state', () => {
  it('keeps history across a broker restart with the same data dir', async () => {
    const { dir, remove } = await tempDir();
    cleanup.push(remove);
    const first = await bundledBroker({ dataDir: dir });
    const alice = await joinedReal(first.urls.ws, 'Alice');
    await send(alice.client, 'before the restart');
    await until(() => [...alice.seen.values()][0]?.state === 'sent', 'acknowledged');
    await alice.client.close();
    await first.close();
    const second = await bundledBroker({ dataDir: dir });
    cleanup.push(() => second.close());
    const bob = await join(second, 'Bob');
    await until(() => bob.seen.size === 1, 'history after restart', 10_000);
    expect([...bob.seen.values()][0]?.text).toBe('before the restart');
  });
});
