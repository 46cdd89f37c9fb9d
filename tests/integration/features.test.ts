import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { dmRoom, type ChatClient } from '../../src/core/chat-client.ts';
import type { Member, PresenceChange } from '../../src/core/presence.ts';
import { fromUtf8 } from '../../src/protocol/bytes.ts';
import { generateDhKeyPair } from '../../src/protocol/dh.ts';
import { PAGE_SIZE } from '../../src/protocol/history.ts';
import type { ChatClientOptions } from '../../src/core/chat-client.ts';
import { timeline, until } from '../helpers/fixtures.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { startProxy } from '../helpers/proxy.ts';
import { bundledBroker, joinedReal, realClient } from '../helpers/real.ts';

interface RunningBroker {
  urls: { mqtt: string; ws: string };
  close(): Promise<void>;
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

const brokers: [string, () => Promise<RunningBroker>][] = [
  ['bundled aedes', () => bundledBroker()],
  ['Mosquitto', () => startMosquitto()],
];

const send = async (client: ChatClient, text: string, options: { reply?: string } = {}, room = 'lobby') => {
  const sent = await client.send(room, text, options);
  if (typeof sent === 'string') throw new Error(sent);
  return sent;
};

describe.each(brokers)('conventions through %s', (_name, start) => {
  const broker = async () => {
    const running = await start();
    cleanup.push(() => running.close());
    return running;
  };
  const join = async (
    url: string,
    name: string,
    options: Partial<ChatClientOptions> = {},
    room = 'lobby',
  ) => {
    const joined = await joinedReal(url, name, room, options);
    cleanup.push(() => joined.client.close());
    return joined;
  };

  it('quotes a reply, and shows an unknown quote as a reply all the same (REPLY-1, REPLY-2)', async () => {
    const b = await broker();
    const alice = await join(b.urls.ws, 'Alice');
    const bob = await join(b.urls.ws, 'Bob');
    const original = await send(alice.client, 'original');
    const reply = await send(bob.client, 'a reply', { reply: original.id });
    const orphan = await send(bob.client, 'reply to the void', { reply: 'b'.repeat(32) });
    await until(() => alice.seen.has(reply.id) && alice.seen.has(orphan.id), 'replies');
    expect(alice.seen.get(reply.id)?.reply).toBe(original.id);
    expect(await alice.client.findMessage('lobby', original.id)).toMatchObject({ text: 'original' });
    expect(await alice.client.findMessage('lobby', 'b'.repeat(32))).toBeUndefined();
  });

  it('counts likes once per user, live for everyone and the same for a late joiner (REACT-1..3)', async () => {
    const b = await broker();
    const alice = await join(b.urls.ws, 'Alice');
    const bob = await join(b.urls.ws, 'Bob');
    const message = await send(alice.client, 'like this');
    await until(() => bob.seen.has(message.id), 'bob has it');
    await bob.client.toggleReaction('lobby', message.id);
    await bob.client.toggleReaction('lobby', message.id);
    await bob.client.toggleReaction('lobby', message.id);
    await alice.client.toggleReaction('lobby', message.id);
    const likes = (c: ChatClient) => c.reactions.summary(message.id)['like']?.length ?? 0;
    await until(() => likes(alice.client) === 2 && likes(bob.client) === 2, 'two likes everywhere');
    const carol = await join(b.urls.ws, 'Carol');
    await until(() => likes(carol.client) === 2, 'carol sees two likes');
  });

  it('honours edits and deletes by the author (EDIT-1, EDIT-2)', async () => {
    const b = await broker();
    const alice = await join(b.urls.ws, 'Alice');
    const bob = await join(b.urls.ws, 'Bob');
    const a = await send(alice.client, 'tpyo');
    const d = await send(alice.client, 'oops');
    await until(() => bob.seen.has(a.id) && bob.seen.has(d.id), 'originals');
    await alice.client.edit(a.id, 'typo');
    await alice.client.delete(d.id);
    await until(
      () => bob.seen.get(a.id)?.text === 'typo' && bob.seen.get(d.id)?.deleted === true,
      'edit+delete',
    );
    const carol = await join(b.urls.ws, 'Carol');
    await until(
      () => carol.seen.get(a.id)?.text === 'typo' && carol.seen.get(d.id)?.deleted === true,
      'late',
    );
  });

  it('lists members and removes a closed tab at once and a dead connection by its will (PRES-1, PRES-3)', async () => {
    const b = await broker();
    const proxy = await startProxy(b.urls.ws);
    cleanup.push(() => proxy.close());
    const alice = await join(b.urls.ws, 'Alice');
    let members: Member[] = [];
    const changes: PresenceChange[] = [];
    alice.client.on('presence', (_room, list, change) => {
      members = list;
      changes.push(...change);
    });
    const bob = await join(b.urls.ws, 'Bob');
    const carol = await join(proxy.url, 'Carol');
    await until(() => members.length === 3, 'three online');
    await bob.client.close();
    await until(() => !members.some((m) => m.name === 'Bob'), 'bob gone at once');
    proxy.block();
    proxy.cut();
    await until(() => !members.some((m) => m.name === 'Carol'), 'carol gone by her will', 15_000);
    expect(changes.filter((c) => c.kind === 'leave').map((c) => c.name)).toEqual(['Bob', 'Carol']);
    proxy.unblock();
    await until(() => members.some((m) => m.name === 'Carol'), 'carol back after reconnect', 20_000);
    expect(carol.client.transport.status).toBe('online');
  });

  it('delivers a DM to the recipient only; a # subscriber never sees its plaintext (DM-2..DM-5)', async () => {
    const b = await broker();
    const spy = await mqtt.connectAsync(b.urls.mqtt, { protocolVersion: 4 });
    cleanup.push(() => spy.endAsync());
    const wire: string[] = [];
    spy.on('message', (_topic, payload) => wire.push(fromUtf8(payload) ?? ''));
    await spy.subscribeAsync('#');
    const alice = await join(b.urls.ws, 'Alice', { dh: await generateDhKeyPair() });
    const carol = await join(b.urls.ws, 'Carol', { dh: await generateDhKeyPair() });
    const carolTexts: string[] = [];
    carol.client.on('messages', (_room, list) => carolTexts.push(...list.map((m) => m.text)));
    const bobKeys = { dh: await generateDhKeyPair() };
    const first = await joinedReal(b.urls.ws, 'Bob', 'lobby', bobKeys);
    const bobId = first.client.identity.userId;
    await alice.client.openDm(bobId);
    await until(() => alice.client.keys.has(bobId), 'bob key');
    // Bob goes offline: the retained inbox keeps the DM until he returns.
    await first.client.close();
    const sent = await alice.client.sendDm(bobId, 'the secret plan');
    expect(typeof sent).toBe('object');
    const bob = await realClient(b.urls.ws, 'Bob', { ...bobKeys, identity: first.client.identity });
    cleanup.push(() => bob.close());
    const bobDm = timeline(bob, dmRoom(alice.client.identity.userId));
    await bob.start();
    await until(
      () => [...bobDm.values()].some((m) => m.text === 'the secret plan'),
      'bob reads it later',
      10_000,
    );
    await until(() => wire.some((p) => p.includes('"t":"dm"')), 'sealed DM on the wire');
    expect(wire.some((p) => p.includes('the secret plan'))).toBe(false);
    expect(carolTexts).not.toContain('the secret plan');
  });

  it('shows the newest messages of a 5,000-message room on join, and older pages on scrolling up (HIST-6, HIST-7)', async () => {
    const b = await broker();
    const alice = await join(b.urls.ws, 'Alice');
    const total = 5000;
    for (let i = 0; i < total; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, j) => send(alice.client, `m${i + j}`)));
    }
    await until(() => [...alice.seen.values()].every((m) => m.state === 'sent'), 'all sent', 60_000);
    const newest = [...alice.seen.values()].sort((x, y) => x.sortTs - y.sortTs || (x.id < y.id ? -1 : 1));
    const bob = await join(b.urls.ws, 'Bob');
    await until(() => newest.slice(-500).every((m) => bob.seen.has(m.id)), 'newest 500', 20_000);
    const before = bob.seen.size;
    expect(before).toBeLessThan(PAGE_SIZE * 6);
    await bob.client.loadOlder('lobby');
    await until(() => bob.seen.size >= before + 2 * PAGE_SIZE - 10, 'two older pages', 20_000);
  }, 120_000);
});
