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
import { bundledBroker, joinedReal, tempDir, type Broker } from '../helpers/real.ts';

const t = topics();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const broker = async (options: Parameters<typeof bundledBroker>[0] = {}) => {
  const running = await bundledBroker(options);
  cleanup.push(() => running.close());
  return running;
};

const join = async (b: Broker, name: string, room = 'lobby') => {
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

describe('two clients through the bundled broker (aedes, MQTT 3.1.1 over WebSocket)', () => {
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

  it('connects with MQTT 5 first and falls back to 3.1.1 on aedes (CONN-3)', async () => {
    const b = await broker();
    const versions: (number | undefined)[] = [];
    const alice = await join(b, 'Alice');
    alice.client.on('status', (s) => versions.push(s.protocolVersion));
    expect(alice.client.transport.status).toBe('online');
    await send(alice.client, 'hi');
    await until(() => alice.seen.get([...alice.seen.keys()][0]!)?.state === 'sent', 'acknowledged');
  });

  it('gives a late joiner the newest HISTORY_WINDOW messages across pages (HIST-2, HIST-6)', async () => {
    const b = await broker();
    const alice = await join(b, 'Alice');
    const total = 2 * PAGE_SIZE + 150;
    for (let i = 0; i < total; i++) void send(alice.client, `m${i}`);
    await until(() => [...alice.seen.values()].filter((m) => m.state === 'sent').length === total, 'sent', 30_000);
    const newest = [...alice.seen.values()].sort(byTimeline).slice(-HISTORY_WINDOW);
    const bob = await join(b, 'Bob');
    await until(() => newest.every((m) => bob.seen.has(m.id)), 'the newest HISTORY_WINDOW', 15_000);
    const pages = new Set([...alice.seen.values()].map((m) => m.page));
    expect(pages).toEqual(new Set([0, 1, 2]));
  });

  it('keeps history across a broker restart with the same data dir', async () => {
    const { dir, remove } = await tempDir();
    cleanup.push(remove);
    const first = await bundledBroker({ dataDir: dir });
    const alice = await joinedReal(first.urls.ws, 'Alice');
    await send(alice.client, 'before the restart');
    await until(() => [...alice.seen.values()][0]?.state === 'sent', 'acknowledged');
    await alice.client.close();
    await first.close();
    const second = await broker({ dataDir: dir });
    const bob = await join(second, 'Bob');
    await until(() => bob.seen.size === 1, 'history after restart', 10_000);
    expect([...bob.seen.values()][0]?.text).toBe('before the restart');
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
    await publisher.publishAsync(forged.topic, Buffer.from(encodeEnvelope({ ...forged.envelope, from: alice.client.identity.userId })), {
      qos: 1,
      retain: true,
    });
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
          return Buffer.from(JSON.stringify({ v: 1, t: 'msg', id: i, from: [], ts: 'x', text: {}, sig: null }));
        case 3:
          return Buffer.alloc(70_000, 0x7b);
        default:
          return Buffer.from(`{"__proto__":{"polluted":${i}},"v":1}`);
      }
    };
    for (let i = 0; i < 1000; i++) {
      const id = i.toString(16).padStart(32, '0');
      void publisher.publish(t.message('lobby', 0, id), junk(i), { qos: 0, retain: false });
    }
    await until(() => bob.client.rejections.total === 1000, '1000 rejections', 20_000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const alice = await join(b, 'Alice');
    await send(alice.client, 'still here');
    await until(() => [...bob.seen.values()].some((m) => m.text === 'still here'), 'bob still chats');
    expect(bob.seen.size).toBe(1);
  });
});
