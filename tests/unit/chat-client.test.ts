import { describe, expect, it } from 'vitest';
import { dmRoom, type ChatClient } from '../../src/core/chat-client.ts';
import { generateDhKeyPair } from '../../src/protocol/dh.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import type { StoredMessage } from '../../src/storage/store.ts';
import type { Member, PresenceChange } from '../../src/core/presence.ts';
import { encodeEnvelope } from '../../src/protocol/envelope.ts';
import { PAGE_SIZE } from '../../src/protocol/history.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { makeGone, makeMessage, makeReaction } from '../../src/protocol/messages.ts';
import { MemoryBroker, memoryTransportFactory } from '../../src/transport/memory-transport.ts';
import type { IncomingMessage, TransportFactory } from '../../src/transport/transport.ts';
import { makeClient, timeline, until } from '../helpers/fixtures.ts';

const joined = async (broker: MemoryBroker, name: string, room = 'lobby', extra = {}) => {
  const client = await makeClient(broker, name, extra);
  const seen = timeline(client, room);
  await client.start();
  await until(() => client.transport.status === 'online', 'online');
  await client.join(room);
  return { client, seen };
};

const sendOk = async (client: ChatClient, room: string, text: string, reply?: string) => {
  const sent = await client.send(room, text, reply === undefined ? {} : { reply });
  if (typeof sent === 'string') throw new Error(sent);
  return sent;
};

describe('ChatClient over the memory transport', () => {
  it('delivers a message live, attributed to its verified sender (MSG-1)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob');
    await sendOk(alice.client, 'lobby', 'hello bob');
    await until(() => bob.seen.size === 1, 'bob to receive');
    const [message] = [...bob.seen.values()];
    expect(message).toMatchObject({ text: 'hello bob', from: alice.client.identity.userId, name: 'Alice' });
  });

  it('shows my message at once as pending, then sent, once (OUT-1)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const states: string[] = [];
    alice.client.on('messages', (_room, messages) => states.push(...messages.map((m) => m.state)));
    await sendOk(alice.client, 'lobby', 'hi');
    await until(() => states.includes('sent'), 'sent');
    await alice.client.idle();
    expect(states).toEqual(['pending', 'sent']);
    expect(alice.seen.size).toBe(1);
  });

  it('publishes without waiting for the outbox write to commit while online, and waits for it offline (OUT-1)', async () => {
    const broker = new MemoryBroker();
    // A store whose message writes commit only when the test says so.
    class SlowStore extends MemoryStore {
      held: (() => void)[] = [];
      override async putMessages(messages: StoredMessage[]): Promise<void> {
        await new Promise<void>((resolve) => this.held.push(resolve));
        return super.putMessages(messages);
      }
    }
    const store = new SlowStore();
    const alice = await joined(broker, 'Alice', 'lobby', { store });
    const published = () => [...broker.retained.keys()].filter((topic) => topic.includes('/msg/')).length;
    const sent = alice.client.send('lobby', 'online');
    await until(() => published() === 1, 'published while the write is held');
    // The pending copy's write, and the acknowledged copy's after it.
    expect(store.held.length).toBeGreaterThanOrEqual(1);
    expect(typeof (await sent)).toBe('object');
    await until(() => store.held.length === 2, 'the acknowledged copy written');
    store.held.splice(0).forEach((commit) => commit());

    broker.stop();
    await until(() => alice.client.transport.status !== 'online', 'offline');
    let done = false;
    const offline = alice.client.send('lobby', 'offline').then(() => (done = true));
    await until(() => store.held.length === 1, 'the offline write issued');
    expect(done).toBe(false);
    store.held.splice(0).forEach((commit) => commit());
    await offline;
    expect(await store.getPending()).toHaveLength(1);
  });

  it('does not send empty or whitespace-only text', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    expect(await alice.client.send('lobby', '  \n ')).toBe('empty');
    expect(await alice.client.send('elsewhere', 'hi')).toBe('not-joined');
  });

  it('gives a late joiner the history, spread over pages of PAGE_SIZE (HIST-2, HIST-6)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    for (let i = 0; i < PAGE_SIZE + 20; i++) await sendOk(alice.client, 'lobby', `m${i}`);
    const pages = new Set(
      [...broker.retained.keys()].filter((t) => t.includes('/msg/')).map((t) => t.split('/')[5]),
    );
    expect(pages).toEqual(new Set(['0', '1']));
    const bob = await joined(broker, 'Bob');
    await until(() => bob.seen.size === PAGE_SIZE + 20, 'history', 10_000);
  });

  it('subscribes the older pages of the window once the newest page has arrived (HIST-6)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    for (let i = 0; i < PAGE_SIZE + 5; i++) await sendOk(alice.client, 'lobby', `m${i}`);
    // Pages 0 (full) and 1, the head, with 5 messages. Bob's transport hands messages over one at a
    // time, a few ms apart, as a broker streams them, and notes what had arrived at each SUBSCRIBE.
    const subscribes: { filters: string[]; received: number }[] = [];
    let received = 0;
    const transport: TransportFactory = (options) => {
      const inner = memoryTransportFactory(broker)(options);
      const subscribe = inner.subscribe.bind(inner);
      inner.subscribe = (filters) => {
        subscribes.push({ filters, received });
        return subscribe(filters);
      };
      const on = inner.on.bind(inner) as (event: string, handler: (...args: never[]) => void) => () => void;
      let stream = Promise.resolve();
      inner.on = ((event: string, handler: (message: IncomingMessage) => void) =>
        event !== 'message'
          ? on(event, handler)
          : on('message', (message: IncomingMessage) => {
              stream = stream
                .then(() => new Promise((resolve) => setTimeout(resolve, 2)))
                .then(() => {
                  if (message.topic.includes('/msg/')) received += 1;
                  handler(message);
                });
            })) as typeof inner.on;
      return inner;
    };
    // The head marker exists: Bob waits for it, however slowly it comes.
    const bob = await joined(broker, 'Bob', 'lobby', { transport, headWaitMs: 10_000 });
    await until(() => bob.seen.size === PAGE_SIZE + 5, 'history', 10_000);
    const pageOf = (filter: string) => filter.match(/\/msg\/(\d+)\//)?.[1];
    const windows = subscribes.filter(({ filters }) => filters.some((f) => pageOf(f) !== undefined));
    expect(windows.map(({ filters }) => filters.flatMap((f) => pageOf(f) ?? []))).toEqual([
      ['2', '1'],
      ['0'],
    ]);
    expect(windows.map(({ received }) => received)).toEqual([0, 5]);
  });

  it('ignores a forged message claiming another sender (SIG-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob');
    const mallory = await generateIdentity();
    const forged = await makeMessage(bob.client.topics, mallory, {
      room: 'lobby',
      page: 0,
      id: 'f'.repeat(32),
      name: 'Alice',
      ts: Date.now(),
      text: 'send me money',
    });
    const claimed = encodeEnvelope({ ...forged.envelope, from: alice.client.identity.userId });
    broker.publish(forged.topic, claimed, { qos: 1, retain: true });
    broker.publish(forged.topic, new TextEncoder().encode('{"v":1'), { qos: 1, retain: false });
    await until(() => bob.client.rejections.total >= 2, 'rejections');
    expect(bob.client.rejections.counts.signature).toBe(1);
    expect(bob.client.rejections.counts.json).toBe(1);
    expect(bob.seen.size).toBe(0);
  });

  it('applies edits and deletes by the author, not by others (EDIT-1, EDIT-2, EDIT-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob');
    const sent = await sendOk(alice.client, 'lobby', 'helo');
    await until(() => bob.seen.get(sent.id)?.text === 'helo', 'original');
    expect(await bob.client.edit(sent.id, 'pwned')).toBe('not-yours');
    await alice.client.edit(sent.id, 'hello');
    await until(() => bob.seen.get(sent.id)?.text === 'hello', 'edit');
    expect(bob.seen.get(sent.id)?.edited).toBeGreaterThan(0);
    const mallory = await generateIdentity();
    const { room, page, id, name, ts } = sent;
    const draft = { room, page, id, name, ts, text: 'hijacked', edited: ts + 99 };
    const hijack = await makeMessage(bob.client.topics, mallory, draft);
    broker.publish(hijack.topic, hijack.payload, { qos: 1, retain: true });
    await until(() => bob.client.rejections.counts.topic === 1, 'hijack rejected');
    await alice.client.delete(sent.id);
    await until(() => bob.seen.get(sent.id)?.deleted === true, 'delete');
    expect(bob.seen.get(sent.id)?.text).toBe('');
  });

  it('rejects another signer of an id whose first version is received but not stored yet (EDIT-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    // Bob's client holds what it receives for 10 s before storing it: the hijack meets an unstored batch.
    const bob = await joined(broker, 'Bob', 'lobby', { flushMs: 10_000 });
    const sent = await sendOk(alice.client, 'lobby', 'helo');
    const mallory = await generateIdentity();
    const { room, page, id, name, ts } = sent;
    const hijack = await makeMessage(bob.client.topics, mallory, {
      room,
      page,
      id,
      name,
      ts,
      text: 'mine now',
    });
    broker.publish(hijack.topic, hijack.payload, { qos: 1, retain: true });
    await until(() => bob.client.rejections.counts.topic === 1, 'hijack rejected');
    expect(bob.seen.has(sent.id)).toBe(false);
    await bob.client.idle();
    expect(bob.seen.get(sent.id)?.text).toBe('helo');
    expect(bob.seen.get(sent.id)?.from).toBe(alice.client.identity.userId);
  });

  it('counts one like per user, live, and a late joiner sees the same (REACT-1..3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob');
    const summaries = new Map<string, Record<string, string[]>>();
    bob.client.on('reactions', (_room, id, summary) => summaries.set(id, summary));
    const sent = await sendOk(alice.client, 'lobby', 'like me');
    await until(() => bob.seen.has(sent.id), 'message');
    await alice.client.toggleReaction('lobby', sent.id);
    await bob.client.toggleReaction('lobby', sent.id);
    await bob.client.toggleReaction('lobby', sent.id, '🎉');
    await until(() => summaries.get(sent.id)?.['like']?.length === 2, 'two likes');
    await alice.client.toggleReaction('lobby', sent.id);
    await until(() => summaries.get(sent.id)?.['like']?.length === 1, 'unlike');
    // A forged like: signed by Mallory on Alice's topic.
    const mallory = await generateIdentity();
    const forged = await makeReaction(
      bob.client.topics,
      mallory,
      { room: 'lobby', page: 0, id: sent.id },
      ['like'],
      Date.now(),
    );
    broker.publish(
      bob.client.topics.react('lobby', 0, sent.id, alice.client.identity.userId),
      forged.payload,
      {
        qos: 1,
        retain: true,
      },
    );
    await until(() => bob.client.rejections.total === 1, 'forged like rejected');
    const carol = await joined(broker, 'Carol');
    const carolSummary = new Map<string, Record<string, string[]>>();
    carol.client.on('reactions', (_room, id, summary) => carolSummary.set(id, summary));
    await until(() => carol.client.reactions.summary(sent.id)['🎉']?.length === 1, 'carol sees reactions');
    expect(carol.client.reactions.summary(sent.id)).toEqual({
      like: [bob.client.identity.userId],
      '🎉': [bob.client.identity.userId],
    });
  });

  it('lists members, reports joins, graceful leaves and wills (PRES-1, PRES-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    let members: Member[] = [];
    const changes: PresenceChange[] = [];
    alice.client.on('presence', (_room, list, change) => {
      members = list;
      changes.push(...change);
    });
    const bob = await joined(broker, 'Bob');
    const carol = await joined(broker, 'Carol');
    await until(() => members.length === 3, 'three members');
    expect(members.map((m) => m.name)).toEqual(['Alice', 'Bob', 'Carol']);
    await bob.client.close();
    await until(() => members.length === 2, 'bob left');
    broker.cut(`mqchat-${carol.client.conn}`);
    await until(() => members.length === 1, 'carol dropped');
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'join Alice',
      'join Bob',
      'join Carol',
      'leave Bob',
      'leave Carol',
    ]);
  });

  it('names every connection anew: conn, client id and will (PRES-1, PRES-3)', async () => {
    const broker = new MemoryBroker();
    const options = { transport: memoryTransportFactory(broker, 20) };
    const alice = await joined(broker, 'Alice', 'lobby', options);
    const bob = await joined(broker, 'Bob', 'lobby', options);
    const bobOf = () => alice.client.members('lobby').find((m) => m.user === bob.client.identity.userId);
    const first = bob.client.conn;
    await until(() => bobOf()?.conn === first, 'alice lists bob');
    expect(broker.clientIds).toContain(`mqchat-${first}`);

    broker.cut(`mqchat-${first}`);
    await until(() => bobOf() === undefined, 'bob dropped by his will');
    await until(() => bobOf() !== undefined, 'bob back', 5000);
    const second = bob.client.conn;
    expect(second).not.toBe(first);
    expect(bobOf()?.conn).toBe(second);
    expect(broker.clientIds).toEqual(expect.arrayContaining([`mqchat-${second}`]));
    expect(broker.clientIds).not.toContain(`mqchat-${first}`);
    // The new connection's will names the new conn: cutting it drops bob again.
    broker.cut(`mqchat-${second}`);
    await until(() => bobOf() === undefined, 'bob dropped by his second will');
    await until(() => bobOf()?.conn !== undefined && bobOf()?.conn !== second, 'bob back again', 5000);
  });

  it("does not let an earlier connection's will remove a member who came back (PRES-3)", async () => {
    const broker = new MemoryBroker();
    const options = { transport: memoryTransportFactory(broker, 20) };
    const alice = await joined(broker, 'Alice', 'lobby', options);
    const bob = await joined(broker, 'Bob', 'lobby', options);
    const dave = await joined(broker, 'Dave', 'lobby', options);
    const [bobId, daveId] = [bob.client.identity.userId, dave.client.identity.userId];
    const listed = (client: ChatClient, user: string) => client.members('lobby').some((m) => m.user === user);
    await until(() => listed(alice.client, bobId) && listed(alice.client, daveId), 'alice lists both');
    // A crash loses the wills; bob comes back under a new conn, dave does not come back.
    const first = bob.client.conn;
    broker.stop();
    await dave.client.transport.close();
    broker.start();
    await until(() => bob.client.transport.status === 'online', 'bob back');
    expect(bob.client.conn).not.toBe(first);
    await until(
      () => alice.client.members('lobby').find((m) => m.user === bobId)?.conn === bob.client.conn,
      "alice has bob's new conn",
    );
    // Then the wills of both first connections turn up late, as a restarted broker publishes the wills
    // its previous process stored. Dave's is published after bob's: once it took dave away, bob's
    // (verified concurrently) has been seen too.
    for (const [member, conn] of [
      [bob, first],
      [dave, dave.client.conn],
    ] as const) {
      const late = await makeGone(member.client.topics, member.client.identity, conn, Date.now());
      broker.publish(late.topic, late.payload, { qos: 1, retain: true });
    }
    await until(() => !listed(alice.client, daveId), 'dave gone');
    expect(listed(alice.client, bobId)).toBe(true);
    // A late joiner gets the retained wills and beats: bob stays listed, dave leaves.
    const carol = await makeClient(broker, 'Carol', options);
    const left: string[] = [];
    carol.on('presence', (_room, _list, changes) =>
      left.push(...changes.filter((c) => c.kind === 'leave').map((c) => c.name)),
    );
    await carol.start();
    await carol.join('lobby');
    await until(() => left.includes('Dave'), 'carol sees dave leave');
    expect(left).toEqual(['Dave']);
    expect(listed(carol, bobId)).toBe(true);
  });

  it('expires members whose heartbeats stop, within 2.5 beats (PRES-4)', async () => {
    let now = 1_000_000;
    const broker = new MemoryBroker();
    // A 20 ms reconnect delay keeps the test short on a loaded machine; the delay itself is not under test.
    const options = {
      now: () => now,
      heartbeatSeconds: () => 10,
      transport: memoryTransportFactory(broker, 20),
    };
    const alice = await joined(broker, 'Alice', 'lobby', options);
    const bob = await joined(broker, 'Bob', 'lobby', options);
    await until(() => alice.client.members('lobby').length === 2, 'both');
    // Bob's broker connection dies without a will (a broker crash loses wills).
    broker.stop();
    broker.start();
    await bob.client.transport.close();
    await until(() => alice.client.transport.status === 'online', 'alice back', 5000);
    now += 24_000;
    alice.client.expirePresence();
    expect(alice.client.members('lobby').length).toBe(2);
    now += 2_000;
    await alice.client.rename('Alice');
    await until(
      () => alice.client.members('lobby').find((m) => m.name === 'Alice')?.seen === now,
      'alice beat',
    );
    alice.client.expirePresence();
    expect(alice.client.members('lobby').map((m) => m.name)).toEqual(['Alice']);
  });

  it('discovers rooms others created (ROOM-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    await alice.client.createRoom('games', 'Games', 'board games');
    const bob = await joined(broker, 'Bob');
    await until(() => bob.client.directory.has('games'), 'directory');
    expect(bob.client.directory.get('games')).toMatchObject({
      title: 'Games',
      desc: 'board games',
      creator: alice.client.identity.userId,
    });
  });

  it('shows who is typing (PRES-6)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob');
    let typing: string[] = [];
    bob.client.on('typing', (_room, users) => (typing = users.map((u) => u.name)));
    await alice.client.typing('lobby');
    await until(() => typing.includes('Alice'), 'typing');
  });

  it('shows an unknown message at once, then the stored version when that one wins (EDIT-1)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const hello = await sendOk(alice.client, 'lobby', 'hello');
    await until(() => alice.seen.get(hello.id)?.state === 'sent', 'sent');
    // Bob deleted-copy of it sits in his store below 500 newer messages, so his join does not load it.
    const store = new MemoryStore();
    const filler = Array.from({ length: 500 }, (_, i) => ({
      ...hello,
      state: 'sent' as const,
      id: `filler-${String(i).padStart(4, '0')}`,
      sortTs: hello.sortTs + 1 + i,
      ts: hello.ts + 1 + i,
    }));
    await store.putMessages([
      { ...hello, state: 'sent', deleted: true, text: '', sig: 'tombstone-sig' },
      ...filler,
    ]);
    const bob = await makeClient(broker, 'Bob', { store });
    const versions: string[] = [];
    bob.on('messages', (_room, messages) => {
      for (const m of messages) if (m.id === hello.id) versions.push(m.deleted ? 'deleted' : m.text);
    });
    await bob.start();
    await until(() => bob.transport.status === 'online', 'online');
    await bob.join('lobby');
    await until(() => versions.at(-1) === 'deleted', 'the stored tombstone shown');
    await bob.idle();
    expect(versions).toEqual(['hello', 'deleted']);
    expect((await store.getMessage(hello.id))?.deleted).toBe(true);
  });

  it('decides echoes and re-deliveries of known messages without asking the store', async () => {
    const broker = new MemoryBroker();
    const store = new MemoryStore();
    let reads = 0;
    const getMessagesById = store.getMessagesById.bind(store);
    store.getMessagesById = async (ids) => {
      reads += ids.length;
      return getMessagesById(ids);
    };
    const getMessage = store.getMessage.bind(store);
    store.getMessage = async (id) => {
      reads += 1;
      return getMessage(id);
    };
    const alice = await joined(broker, 'Alice', 'lobby', { store });
    const sent = await sendOk(alice.client, 'lobby', 'mine');
    await until(() => alice.seen.get(sent.id)?.state === 'sent', 'sent');
    await alice.client.idle();
    expect(reads).toBe(0);
  });

  it('republishes the outbox after a reconnect with the same id (OUT-2)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice', 'lobby', {});
    const bob = await joined(broker, 'Bob');
    broker.stop();
    const sent = await sendOk(alice.client, 'lobby', 'while offline');
    expect(alice.seen.get(sent.id)?.state).toBe('pending');
    broker.start();
    await until(() => bob.seen.get(sent.id)?.text === 'while offline', 'delivered after reconnect', 10_000);
    await until(() => alice.seen.get(sent.id)?.state === 'sent', 'sent');
  });
});

describe('direct messages over the memory transport (DM-1..DM-5)', () => {
  const withDh = async () => ({ dh: await generateDhKeyPair() });

  it('delivers an encrypted DM readable by the recipient and the sender only', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice', 'lobby', await withDh());
    const bob = await joined(broker, 'Bob', 'lobby', await withDh());
    const carol = await joined(broker, 'Carol', 'lobby', await withDh());
    const bobId = bob.client.identity.userId;
    const aliceDm = timeline(alice.client, dmRoom(bobId));
    const bobDm = timeline(bob.client, dmRoom(alice.client.identity.userId));
    const carolAll: string[] = [];
    carol.client.on('messages', (_room, messages) => carolAll.push(...messages.map((m) => m.text)));
    expect(await alice.client.sendDm(bobId, 'before key')).toBe('no-key');
    await alice.client.openDm(bobId);
    await until(() => alice.client.keys.has(bobId), 'bob key');
    const sent = await alice.client.sendDm(bobId, 'secret for bob');
    expect(typeof sent).toBe('object');
    await until(() => [...bobDm.values()].some((m) => m.text === 'secret for bob'), 'bob reads it');
    await until(() => aliceDm.size === 1 && [...aliceDm.values()][0]?.state === 'sent', 'alice sent');
    const wire = broker.log
      .filter((p) => p.topic.includes('/dm/'))
      .map((p) => new TextDecoder().decode(p.payload));
    expect(wire).toHaveLength(2);
    for (const payload of wire) {
      expect(payload).not.toContain('secret');
      expect(payload).not.toContain(alice.client.identity.userId);
    }
    expect(carolAll).not.toContain('secret for bob');
  });

  it('warns when a known user announces a different key', async () => {
    const broker = new MemoryBroker();
    const store = new MemoryStore();
    const alice = await joined(broker, 'Alice', 'lobby', { ...(await withDh()), store });
    const bob = await joined(broker, 'Bob', 'lobby', await withDh());
    const bobId = bob.client.identity.userId;
    await alice.client.openDm(bobId);
    await until(() => alice.client.keys.get(bobId)?.status === 'new', 'first key');
    await alice.client.close();
    // Bob on a new device with the same identity but a new DM key.
    const bob2 = await joined(broker, 'Bob', 'lobby', { ...(await withDh()), identity: bob.client.identity });
    const again = await joined(broker, 'Alice', 'lobby', {
      dh: await generateDhKeyPair(),
      store,
      identity: alice.client.identity,
    });
    await again.client.openDm(bobId);
    await until(() => again.client.keys.get(bobId)?.status === 'changed', 'changed key warning');
    await again.client.acceptKey(bobId);
    expect(again.client.keys.get(bobId)?.status).toBe('same');
    await bob2.client.close();
  });
});

describe('completeness and hostile senders', () => {
  it('repairs a gap: a cleared message is re-delivered by its author on request (SYNC-1..SYNC-3)', async () => {
    const broker = new MemoryBroker();
    const alice = await joined(broker, 'Alice');
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await sendOk(alice.client, 'lobby', text));
    await until(() => [...alice.seen.values()].every((m) => m.state === 'sent'), 'sent');
    // Someone clears message two from the broker, as anyone can on an open broker.
    broker.publish(alice.client.topics.message('lobby', 0, sent[1]!.id), new Uint8Array(0), {
      qos: 1,
      retain: true,
    });
    const bob = await joined(broker, 'Bob');
    await until(() => bob.seen.size === 3, 'bob gets all three after the sync request', 10_000);
    expect([...bob.seen.values()].map((m) => m.seq).sort()).toEqual([1, 2, 3]);
    expect(broker.retained.has(alice.client.topics.message('lobby', 0, sent[1]!.id))).toBe(true);
  });

  it('drops live messages past a sender budget so a flooder cannot freeze the page (FLOOD-1)', async () => {
    const broker = new MemoryBroker();
    const flooder = await joined(broker, 'Flooder');
    const bob = await joined(broker, 'Bob', 'lobby', { rate: { perSecond: 1, burst: 10 } });
    let floods = 0;
    bob.client.on('rejected', (reason) => reason === 'flood' && floods++);
    await Promise.all(Array.from({ length: 50 }, (_, i) => sendOk(flooder.client, 'lobby', `spam ${i}`)));
    await until(() => bob.seen.size + floods === 50, 'all handled');
    expect(bob.seen.size).toBeLessThanOrEqual(11);
  });

  it('hides a muted user, and remembers it (FLOOD-2)', async () => {
    const broker = new MemoryBroker();
    const store = new MemoryStore();
    const alice = await joined(broker, 'Alice');
    const bob = await joined(broker, 'Bob', 'lobby', { store });
    await bob.client.mute(alice.client.identity.userId);
    await sendOk(alice.client, 'lobby', 'you cannot see me');
    const carol = await joined(broker, 'Carol');
    await sendOk(carol.client, 'lobby', 'but me');
    await until(() => [...bob.seen.values()].some((m) => m.text === 'but me'), 'carol');
    expect([...bob.seen.values()].map((m) => m.text)).toEqual(['but me']);
    expect(await store.getSetting('muted-users')).toEqual([alice.client.identity.userId]);
  });
});
