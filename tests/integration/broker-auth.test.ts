// The bundled broker's authenticated mode (docs/BROKER.md "Authenticated mode", PROTOCOL.md AUTH-1..AUTH-8)
// and its limits (publish rate, connections per IP, retained quota), over real sockets with envelopes
// signed by src/protocol.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthPolicy, loginMessage, parsePassword, reachesForeignInbox } from '../../broker/auth.js';
import { parseCli } from '../../broker/cli.js';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../broker/index.js';
import {
  canonicalJson as brokerCanonicalJson,
  parseTopic as brokerParseTopic,
} from '../../broker/protocol.js';
import { ChatClient, dmRoom } from '../../src/core/chat-client.ts';
import { utf8 } from '../../src/protocol/bytes.ts';
import { canonicalJson } from '../../src/protocol/canonical.ts';
import { generateDhKeyPair } from '../../src/protocol/dh.ts';
import { sealDirect } from '../../src/protocol/dms.ts';
import { encodeEnvelope, signEnvelope, type MessageEnvelope } from '../../src/protocol/envelope.ts';
import { generateIdentity, signBytes, type Identity } from '../../src/protocol/keys.ts';
import { makeGone, makeHere, makeMessage, makeReaction } from '../../src/protocol/messages.ts';
import { parseTopic, topics } from '../../src/protocol/topics.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import { mqttTransportFactory } from '../../src/transport/mqtt-transport.ts';
import { timeline, until } from '../helpers/fixtures.ts';
import {
  closeClients,
  connectClient,
  connectRecording,
  MessageLog,
  RawMqttClient,
  uniqueClientId,
  waitForClose,
  withTimeout,
} from '../helpers/mqtt-client.js';

const t = topics('mqchat');
const ROOM = 'lobby';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

async function broker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const running = await startBroker({
    port: 0,
    wsPort: 0,
    memory: true,
    logger: 'quiet',
    retention: false,
    auth: true,
    ...options,
  });
  cleanup.push(() => running.close());
  return running;
}

/** The CONNECT password of AUTH-2: `<ts>.<signature over "mqchat-login-v1\n<clientId>\n<ts>">`. */
async function password(identity: Identity, clientId: string, ts = Date.now()): Promise<string> {
  return `${ts}.${await signBytes(identity, utf8(loginMessage(clientId, ts)))}`;
}

/** An mqtt.js client logged in as `identity`, with its message log. */
async function login(b: RunningBroker, identity: Identity, options: IClientOptions = {}) {
  const clientId = uniqueClientId('auth');
  const connected = await connectRecording(b.urls.mqtt, {
    clientId,
    username: identity.userId,
    password: await password(identity, clientId),
    ...options,
  });
  // Forced: a client the broker dropped mid-publish would wait forever for its PUBACK otherwise.
  cleanup.push(() => closeClients([connected.client], true));
  return connected;
}

/** CONNACK return code for a raw CONNECT. */
async function connackCode(
  b: RunningBroker,
  connect: { clientId: string; username?: string; password?: string; will?: WillPacket },
): Promise<number> {
  const { raw, connack } = await RawMqttClient.connect(b.ports.mqtt, {
    clientId: connect.clientId,
    ...(connect.username !== undefined && { username: connect.username }),
    ...(connect.password !== undefined && { password: Buffer.from(connect.password) }),
    ...(connect.will && { will: connect.will }),
  });
  raw.destroy();
  return (connack as { returnCode: number }).returnCode;
}

interface WillPacket {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

const willOf = (outgoing: { topic: string; payload: Uint8Array }): WillPacket => ({
  topic: outgoing.topic,
  payload: Buffer.from(outgoing.payload),
  qos: 1,
  retain: true,
});

const messageId = (n: number) => n.toString(16).padStart(32, '0');

const message = (identity: Identity, id: string, text = 'hello', ts = 1_700_000_000_000) =>
  makeMessage(t, identity, { room: ROOM, page: 0, id, name: 'Someone', ts, text });

/** Publishes and expects the broker to drop the connection for it (AUTH-6: refusal closes the client). */
async function expectRefused(client: MqttClient, topic: string, payload: Uint8Array | string, retain = true) {
  client.publish(topic, Buffer.from(payload), { qos: 1, retain });
  await waitForClose(client);
}

/** Publishes at QoS 1 and resolves on PUBACK: the broker accepted it. */
async function expectAccepted(
  client: MqttClient,
  topic: string,
  payload: Uint8Array | string,
  retain = true,
) {
  await withTimeout(
    client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain }),
    5_000,
    `PUBACK for ${topic}`,
  );
}

/** SUBACK return codes for `filters` (mqtt.js rejects a SUBACK with 0x80 in it, so read the packet). */
function suback(client: MqttClient, filters: string[]): Promise<number[]> {
  return withTimeout(
    new Promise((resolve, reject) =>
      client.subscribe(filters, { qos: 1 }, (error, granted, packet) => {
        const codes = (packet as { granted?: number[] } | undefined)?.granted ?? granted?.map((g) => g.qos);
        if (codes) resolve(codes);
        else reject(error ?? new Error('no SUBACK'));
      }),
    ),
    5_000,
    `SUBACK for ${filters.join(', ')}`,
  );
}

/** Every retained payload on `filter` as a fresh (authorised) subscriber sees it. */
async function retainedFor(b: RunningBroker, identity: Identity, filter: string, sentinel: string) {
  const { client, log } = await login(b, identity);
  await client.subscribeAsync([filter, sentinel], { qos: 1 });
  await client.publishAsync(sentinel, 'end', { qos: 1 });
  await log.waitForTopic(sentinel);
  await client.endAsync();
  return log.messages.filter((m) => m.topic !== sentinel);
}

describe('the broker mirror of src/protocol', () => {
  it('parses topics exactly as src/protocol/topics.ts does (TOPIC-2)', async () => {
    const user = (await generateIdentity()).userId;
    const samples = [
      t.message('lobby', 0, messageId(1)),
      t.message('lobby', 7, messageId(1)),
      `mqchat/v1/room/lobby/msg/07/${messageId(1)}`,
      `mqchat/v1/room/Lobby/msg/0/${messageId(1)}`,
      `mqchat/v1/room/lobby/msg/0/${messageId(1).toUpperCase()}`,
      `mqchat/v1/room/lobby/msg/1000000001/${messageId(1)}`,
      t.head('ｒｏｏｍ'),
      t.head('café'),
      t.page('lobby', 3),
      t.react('lobby', 2, messageId(3), user),
      `${t.react('lobby', 2, messageId(3), user)}/extra`,
      t.here('lobby', user),
      t.typing('lobby', user),
      t.typing('lobby', 'not-a-user'),
      t.directory('lobby'),
      t.status(user),
      t.key(user),
      `mqchat/v1/user/${user}/other`,
      t.dm(user, messageId(4)),
      `mqchat/v1/dm/${user}`,
      'mqchat/v1/room',
      'mqchat/v2/room/lobby/head',
      'chat/lobby/alice',
    ];
    for (const topic of samples)
      expect(brokerParseTopic('mqchat', topic), topic).toEqual(parseTopic('mqchat', topic));
  });

  it('writes canonical JSON exactly as src/protocol/canonical.ts does (SIG-2)', () => {
    const value = {
      z: [1, 'é\u2028"\\', null, true],
      a: { y: -3, b: '</script>' },
      __proto__x: 0,
      '': 'empty',
    };
    expect(brokerCanonicalJson(value)).toBe(canonicalJson(value));
    expect(() => brokerCanonicalJson({ n: 1.5 })).toThrow(RangeError);
  });

  it('reads the password as <ts>.<86 base64url characters> only (AUTH-2)', () => {
    const sig = 'A'.repeat(86);
    expect(parsePassword(Buffer.from(`1700000000000.${sig}`))).toEqual({ ts: 1_700_000_000_000, sig });
    for (const bad of [`01.${sig}`, `1.${sig}=`, `1.${sig.slice(1)}`, `-1.${sig}`, `1 .${sig}`, '', 'x']) {
      expect(parsePassword(Buffer.from(bad)), bad).toBeUndefined();
    }
    expect(parsePassword(undefined)).toBeUndefined();
  });

  it('finds every filter that could reach another user’s DM inbox (AUTH-7)', async () => {
    const me = (await generateIdentity()).userId;
    const other = (await generateIdentity()).userId;
    const base = ['mqchat', 'v1', 'dm'];
    const foreign = [
      '#',
      '+/#',
      'mqchat/#',
      'mqchat/v1/#',
      '+/v1/dm/+/+',
      'mqchat/+/dm/#',
      'mqchat/v1/dm/+/+',
    ];
    const fine = [
      `mqchat/v1/dm/${me}/+`,
      `mqchat/v1/dm/${me}/#`,
      `+/+/+/${me}/+`,
      'mqchat/v1/room/#',
      'mqchat/v1/+/lobby/#',
      'mqchat/v1/dm',
      'chat/lobby/#',
      'mqchat',
    ];
    for (const filter of foreign) expect(reachesForeignInbox(filter.split('/'), base, me), filter).toBe(true);
    for (const filter of fine) expect(reachesForeignInbox(filter.split('/'), base, me), filter).toBe(false);
    expect(reachesForeignInbox(`mqchat/v1/dm/${other}/+`.split('/'), base, me)).toBe(true);
    expect(reachesForeignInbox(`+/v1/+/${other}/#`.split('/'), base, me)).toBe(true);
  });

  it('forwards a DM topic to its inbox owner only', () => {
    const policy = new AuthPolicy({
      prefix: 'mqchat',
      loginWindowMs: 60_000,
      retainedQuota: 0,
      now: Date.now,
    });
    expect(policy.mayForward('BOB', `mqchat/v1/dm/BOB/${messageId(1)}`)).toBe(true);
    expect(policy.mayForward('CAROL', `mqchat/v1/dm/BOB/${messageId(1)}`)).toBe(false);
    expect(policy.mayForward(undefined, `mqchat/v1/dm/BOB/${messageId(1)}`)).toBe(false);
    expect(policy.mayForward('CAROL', 'mqchat/v1/room/lobby/head')).toBe(true);
  });
});

describe('command line', () => {
  it('turns on authenticated mode and the limits by flag or environment', () => {
    const flags = [
      '--auth',
      '--rate',
      '5',
      '--burst',
      '10',
      '--max-conn-per-ip',
      '3',
      '--retained-quota',
      '7',
    ];
    expect(parseCli([...flags, '--prefix', 'team/chat'], {}).broker).toMatchObject({
      auth: true,
      publishRate: 5,
      publishBurst: 10,
      maxConnectionsPerIp: 3,
      retainedQuota: 7,
      prefix: 'team/chat',
    });
    const env = { MQCHAT_BROKER_AUTH: '1', MQCHAT_BROKER_RATE: '0', MQCHAT_BROKER_MAX_CONN_PER_IP: '50' };
    expect(parseCli([], env).broker).toMatchObject({ auth: true, publishRate: 0, maxConnectionsPerIp: 50 });
    expect(parseCli([], {}).broker.auth).toBeUndefined();
  });

  it('rejects limits out of range before listening', async () => {
    await expect(startBroker({ port: 0, wsPort: 0, memory: true, publishBurst: 0 })).rejects.toThrow(
      /publishBurst/,
    );
    await expect(startBroker({ port: 0, wsPort: 0, memory: true, prefix: 'a/#' })).rejects.toThrow(/prefix/);
  });
});

describe('login (AUTH-1..AUTH-5)', () => {
  it('accepts a fresh password signed for the client id', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const { connack } = await login(b, alice);
    expect(connack.returnCode).toBe(0);
  });

  it('refuses a bad signature, a stale timestamp, a replayed password and another client id', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const mallory = await generateIdentity();
    const clientId = uniqueClientId('alice');
    const username = alice.userId;

    // Signed by Mallory, presented as Alice: bad user name or password.
    expect(await connackCode(b, { clientId, username, password: await password(mallory, clientId) })).toBe(4);
    // Alice's signature, 61 s old or 61 s ahead: not authorized.
    const stale = await password(alice, clientId, Date.now() - 61_000);
    expect(await connackCode(b, { clientId, username, password: stale })).toBe(5);
    const ahead = await password(alice, clientId, Date.now() + 61_000);
    expect(await connackCode(b, { clientId, username, password: ahead })).toBe(5);
    // Signed for another client id: the signature does not verify for this one.
    const other = await password(alice, 'some-other-client');
    expect(await connackCode(b, { clientId, username, password: other })).toBe(4);
    // A good password works once; the same password again is a replay.
    const good = await password(alice, clientId);
    expect(await connackCode(b, { clientId, username, password: good })).toBe(0);
    expect(await connackCode(b, { clientId, username, password: good })).toBe(5);
  });

  it('refuses a missing or malformed user name or password, and an empty client id', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const clientId = uniqueClientId('alice');
    const good = await password(alice, clientId);
    expect(await connackCode(b, { clientId })).toBe(4);
    expect(await connackCode(b, { clientId, username: alice.userId })).toBe(4);
    expect(await connackCode(b, { clientId, username: 'alice', password: good })).toBe(4);
    expect(await connackCode(b, { clientId, username: alice.userId, password: `${good}x` })).toBe(4);
    expect(
      await connackCode(b, { clientId: '', username: alice.userId, password: await password(alice, '') }),
    ).toBe(2);
  });

  it('refuses a will signed by another user, and publishes a good one when the client dies (AUTH-5)', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const mallory = await generateIdentity();
    const forgedWill = await signEnvelope(mallory, t.status(alice.userId), {
      v: 1,
      t: 'gone',
      from: alice.userId,
      conn: '000000000001',
      ts: Date.now(),
    });
    const clientId = uniqueClientId('alice');
    const refused = await connackCode(b, {
      clientId,
      username: alice.userId,
      password: await password(alice, clientId),
      will: willOf({ topic: t.status(alice.userId), payload: encodeEnvelope(forgedWill) }),
    });
    expect(refused).toBe(5);
    const malloryWill = await makeGone(t, mallory, '000000000002', Date.now());
    const otherUser = uniqueClientId('alice');
    const onOthersTopic = await connackCode(b, {
      clientId: otherUser,
      username: alice.userId,
      password: await password(alice, otherUser),
      will: willOf(malloryWill),
    });
    expect(onOthersTopic).toBe(5);

    const bob = await generateIdentity();
    const { client: watcher, log } = await login(b, bob);
    await watcher.subscribeAsync(t.status(alice.userId), { qos: 1 });
    const gone = await makeGone(t, alice, '000000000003', Date.now());
    const goodId = uniqueClientId('alice');
    const { raw, connack } = await RawMqttClient.connect(b.ports.mqtt, {
      clientId: goodId,
      username: alice.userId,
      password: Buffer.from(await password(alice, goodId)),
      will: willOf(gone),
    });
    expect((connack as { returnCode: number }).returnCode).toBe(0);
    raw.destroy();
    const delivered = await log.waitForTopic(t.status(alice.userId));
    expect(delivered.payload.equals(Buffer.from(gone.payload))).toBe(true);
  });

  it('does not let another user take over a connected client id', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const mallory = await generateIdentity();
    const clientId = uniqueClientId('alice');
    const { client } = await login(b, alice, { clientId, password: await password(alice, clientId) });
    expect(
      await connackCode(b, {
        clientId,
        username: mallory.userId,
        password: await password(mallory, clientId),
      }),
    ).toBe(2);
    expect(client.connected).toBe(true);
  });
});

describe('publish authorization (AUTH-6)', () => {
  it('delivers none of 100 forged publishes, and the genuine ones', async () => {
    const b = await broker();
    const [alice, mallory, bob] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const { client: bobClient, log } = await login(b, bob);
    await bobClient.subscribeAsync([`mqchat/v1/room/${ROOM}/#`, 'mqchat/v1/user/+/status'], { qos: 1 });
    const { client: aliceClient } = await login(b, alice);
    const original = await message(alice, messageId(1), 'the original');
    await expectAccepted(aliceClient, original.topic, original.payload);

    // `dropped`: acknowledged but neither stored nor forwarded (a relay, SYNC-3); `refused`: disconnected.
    const forged: { topic: string; payload: Uint8Array; as: Identity; outcome?: 'dropped' }[] = [];
    for (let i = 0; i < 100; i += 1) {
      const id = messageId(1000 + i);
      switch (i % 6) {
        case 0: {
          // Alice's genuine envelope (never published by her), republished by Mallory.
          const captured = await message(alice, id, `captured ${i}`);
          forged.push({ ...captured, as: mallory, outcome: 'dropped' });
          break;
        }
        case 1: {
          // Claims to be from Alice, signed by Mallory.
          const envelope = await signEnvelope<MessageEnvelope>(mallory, t.message(ROOM, 0, id), {
            v: 1,
            t: 'msg',
            id,
            from: alice.userId,
            name: 'Alice',
            ts: 1_700_000_000_000,
            text: `impostor ${i}`,
          });
          forged.push({ topic: t.message(ROOM, 0, id), payload: encodeEnvelope(envelope), as: mallory });
          break;
        }
        case 2: {
          // Mallory's own valid reaction, published on Alice's reaction topic.
          const reaction = await makeReaction(
            t,
            mallory,
            { room: ROOM, page: 0, id },
            ['like'],
            1_700_000_000_000 + i,
          );
          forged.push({ topic: t.react(ROOM, 0, id, alice.userId), payload: reaction.payload, as: mallory });
          break;
        }
        case 3: {
          // Logged in as Alice, publishing a message Mallory signed (and never published).
          const mallorys = await message(mallory, id, `smuggled ${i}`);
          forged.push({ ...mallorys, as: alice, outcome: 'dropped' });
          break;
        }
        case 4: {
          // Mallory's valid message on the topic of Alice's existing message (EDIT-3 at the broker).
          const takeover = await message(mallory, messageId(1), `takeover ${i}`);
          forged.push({ ...takeover, as: mallory });
          break;
        }
        default: {
          // Mallory's presence on Alice's presence topic.
          const here = await makeHere(t, mallory, ROOM, {
            name: 'Alice',
            conn: '0000000000aa',
            hb: 60,
            on: true,
            ts: i + 1,
          });
          forged.push({ topic: t.here(ROOM, alice.userId), payload: here.payload, as: mallory });
        }
      }
    }

    for (const attempt of forged) {
      const { client } = await login(b, attempt.as);
      if (attempt.outcome === 'dropped') {
        await expectAccepted(client, attempt.topic, attempt.payload);
        await client.endAsync();
      } else {
        await expectRefused(client, attempt.topic, attempt.payload);
      }
    }
    // Bob relays Alice's published message, as honest clients answer sync requests (SYNC-3): he stays
    // connected, and it is not delivered a second time.
    const { client: relay } = await login(b, bob);
    await expectAccepted(relay, original.topic, original.payload);
    const sentinel = await message(alice, messageId(2), 'sentinel');
    await expectAccepted(aliceClient, sentinel.topic, sentinel.payload);
    await log.waitForTopic(sentinel.topic);

    const forgedPayloads = new Set(forged.map((f) => Buffer.from(f.payload).toString('base64')));
    const deliveredForged = log.messages.filter((m) => forgedPayloads.has(m.payload.toString('base64')));
    console.log(`forged publishes delivered: ${deliveredForged.length} of ${forged.length}`);
    expect(deliveredForged).toHaveLength(0);
    expect(log.messages.filter((m) => m.topic === original.topic)).toHaveLength(1);
  });

  it('lets only the owner clear a retained message or presence, and no one clear a head marker', async () => {
    const b = await broker();
    const [alice, mallory] = await Promise.all([generateIdentity(), generateIdentity()]);
    const { client: aliceClient } = await login(b, alice);
    const original = await message(alice, messageId(1));
    const here = await makeHere(t, alice, ROOM, {
      name: 'Alice',
      conn: '0000000000aa',
      hb: 60,
      on: true,
      ts: 1,
    });
    await expectAccepted(aliceClient, original.topic, original.payload);
    await expectAccepted(aliceClient, here.topic, here.payload);

    for (const topic of [original.topic, here.topic, t.head(ROOM)]) {
      const { client } = await login(b, mallory);
      await expectRefused(client, topic, '');
    }
    const kept = await retainedFor(b, mallory, `mqchat/v1/room/${ROOM}/#`, 'sentinel/after-clear');
    expect(kept.map((m) => m.topic).sort()).toEqual([original.topic, here.topic].sort());

    // Alice clears her own; nobody may clear a head marker, Alice included.
    await expectAccepted(aliceClient, original.topic, '');
    await expectAccepted(aliceClient, here.topic, '');
    await expectRefused(aliceClient, t.head(ROOM), '');
    const left = await retainedFor(b, mallory, `mqchat/v1/room/${ROOM}/#`, 'sentinel/after-own-clear');
    expect(left).toEqual([]);
  });

  it('accepts what the real client publishes: two chat clients chat, react, DM and leave', async () => {
    const b = await broker();
    const chat = async (name: string) => {
      // The client signs a login for each connection's own client id (AUTH-4, PRES-1).
      const client = new ChatClient({
        transport: mqttTransportFactory({ random: () => 0 }),
        url: b.urls.ws,
        store: new MemoryStore(),
        identity: await generateIdentity(),
        name,
        dh: await generateDhKeyPair(),
        login: true,
        headWaitMs: 50,
      });
      cleanup.push(() => client.close());
      const seen = timeline(client, ROOM);
      await client.start();
      await until(() => client.transport.status === 'online', `${name} online`, 10_000);
      await client.join(ROOM);
      return { client, seen };
    };
    const alice = await chat('Alice');
    const bob = await chat('Bob');
    const sent = await alice.client.send(ROOM, 'hello through an authenticated broker');
    if (typeof sent === 'string') throw new Error(sent);
    await until(
      () => bob.seen.get(sent.id)?.text === 'hello through an authenticated broker',
      'bob reads it',
    );
    const likes: string[][] = [];
    alice.client.on('reactions', (_room, id, summary) => {
      if (id === sent.id) likes.push(summary.like ?? []);
    });
    await bob.client.toggleReaction(ROOM, sent.id);
    await until(
      () => likes.some((users) => users.includes(bob.client.identity.userId)),
      'alice sees the like',
    );
    const bobId = bob.client.identity.userId;
    await alice.client.openDm(bobId);
    await until(() => alice.client.keys.has(bobId), 'bob key');
    const bobDm = timeline(bob.client, dmRoom(alice.client.identity.userId));
    const dm = await alice.client.sendDm(bobId, 'psst');
    expect(typeof dm).toBe('object');
    await until(() => [...bobDm.values()].some((m) => m.text === 'psst'), 'bob reads the DM', 10_000);
    expect(alice.client.transport.status).toBe('online');
    expect(bob.client.transport.status).toBe('online');
  });

  it('keeps an owner’s retained message against others after a restart (index rebuilt from persistence)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mqchat-auth-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const [alice, mallory] = await Promise.all([generateIdentity(), generateIdentity()]);
    const first = await startBroker({
      port: 0,
      wsPort: 0,
      dataDir,
      logger: 'quiet',
      retention: false,
      auth: true,
    });
    const { client } = await connectRecording(first.urls.mqtt, {
      clientId: 'alice-before',
      username: alice.userId,
      password: await password(alice, 'alice-before'),
    });
    const original = await message(alice, messageId(1));
    await expectAccepted(client, original.topic, original.payload);
    await client.endAsync();
    await first.close();

    const b = await broker({ dataDir, memory: false });
    const { client: malloryClient } = await login(b, mallory);
    await expectRefused(
      malloryClient,
      original.topic,
      (await message(mallory, messageId(1), 'mine now')).payload,
    );
    const { client: malloryAgain } = await login(b, mallory);
    await expectRefused(malloryAgain, original.topic, '');
    const { client: aliceClient } = await login(b, alice);
    await expectAccepted(aliceClient, original.topic, (await message(alice, messageId(1), 'edited')).payload);
  });
});

describe('DM confidentiality (AUTH-7)', () => {
  it('never shows Bob’s DMs to Carol, whatever she subscribes to, and delivers all of them to Bob', async () => {
    const b = await broker();
    const [alice, bob, carol] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const [aliceDh, bobDh] = await Promise.all([generateDhKeyPair(), generateDhKeyPair()]);
    const { client: bobClient, log: bobLog } = await login(b, bob);
    const { client: carolClient, log: carolLog } = await login(b, carol);
    const { client: aliceClient } = await login(b, alice);

    expect(await suback(bobClient, [t.inbox(bob.userId)])).toEqual([1]);
    const spying = ['#', 'mqchat/#', 'mqchat/v1/dm/+/+', '+/v1/dm/#', t.inbox(bob.userId), `$SYS/#`];
    expect(await suback(carolClient, spying)).toEqual(spying.map(() => 128));
    expect(await suback(carolClient, [`mqchat/v1/room/#`, t.inbox(carol.userId)])).toEqual([1, 1]);

    const count = 30;
    for (let i = 0; i < count; i += 1) {
      const sealed = await sealDirect({
        topics: t,
        identity: alice,
        to: bob.userId,
        toDhKey: bobDh.publicKey,
        ownDhKey: aliceDh.publicKey,
        id: messageId(i + 1),
        name: 'Alice',
        ts: Date.now(),
        text: `secret ${i}`,
      });
      for (const outgoing of sealed) await expectAccepted(aliceClient, outgoing.topic, outgoing.payload);
    }
    await bobLog.waitForCount(count, (m) => m.topic.startsWith(`mqchat/v1/dm/${bob.userId}/`));
    // Carol asks again for Bob's inbox now that it holds retained DMs, then waits for a sentinel.
    expect(await suback(carolClient, [t.inbox(bob.userId)])).toEqual([128]);
    const sentinel = await message(alice, messageId(999));
    await expectAccepted(aliceClient, sentinel.topic, sentinel.payload);
    await carolLog.waitForTopic(sentinel.topic);
    const leaked = carolLog.messages.filter((m) => m.topic.includes('/dm/'));
    console.log(`DMs to Bob: ${count} delivered to Bob, ${leaked.length} to Carol`);
    expect(leaked).toHaveLength(0);

    // Carol may not clear Bob's DMs; Bob may.
    const dmTopic = t.dm(bob.userId, messageId(1));
    await expectRefused(carolClient, dmTopic, '');
    await expectAccepted(bobClient, dmTopic, '');
  });

  it('refuses a DM that is not a sealed object for its topic, or over 64 KiB', async () => {
    const b = await broker({ maxPacketSize: 256 * 1024 });
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const topic = t.dm(bob.userId, messageId(5));
    const bad = [
      'plain text',
      JSON.stringify({ v: 1, t: 'dm', id: messageId(6), eph: 'x', iv: 'y', ct: 'z' }),
      JSON.stringify({ v: 1, t: 'dm', id: messageId(5), ct: 'z'.repeat(70_000) }),
    ];
    for (const payload of bad) {
      const { client } = await login(b, alice);
      await expectRefused(client, topic, payload);
    }
  });
});

describe('limits', () => {
  it('holds back publishes over the rate, then drops a client that keeps flooding (open mode)', async () => {
    const b = await broker({ auth: false, publishRate: 10, publishBurst: 20, publishMaxDelay: 2_000 });
    const subscriber = await connectClient(b.urls.mqtt);
    cleanup.push(() => closeClients([subscriber], true));
    const log = new MessageLog(subscriber);
    await subscriber.subscribeAsync('rate/#', { qos: 1 });

    // 30 at once: 20 pass at once, 10 are delayed about a second, none is lost, the client stays.
    const polite = await connectClient(b.urls.mqtt);
    cleanup.push(() => closeClients([polite], true));
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => polite.publishAsync('rate/polite', String(i), { qos: 1 })),
    );
    const elapsed = Date.now() - started;
    await log.waitForCount(30, (m) => m.topic === 'rate/polite');
    expect(polite.connected).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(800);

    // 1,000 at once: far beyond 2 s of allowance, so the client is dropped.
    const flooder = await connectClient(b.urls.mqtt);
    cleanup.push(() => closeClients([flooder], true));
    for (let i = 0; i < 1_000; i += 1) flooder.publish('rate/flood', String(i), { qos: 0 });
    await waitForClose(flooder);
    await subscriber.publishAsync('rate/end', 'end', { qos: 1 });
    await log.waitForTopic('rate/end');
    const flooded = log.messages.filter((m) => m.topic === 'rate/flood').length;
    console.log(
      `rate limit 10/s burst 20: polite 30 took ${elapsed} ms; flooder got ${flooded} of 1000 through`,
    );
    expect(flooded).toBeGreaterThanOrEqual(20);
    expect(flooded).toBeLessThan(100);
  });

  it('refuses connections beyond the per-IP limit, and accepts again once one closes', async () => {
    const b = await broker({ auth: false, maxConnectionsPerIp: 3 });
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(b.urls.mqtt)));
    cleanup.push(() => closeClients(clients));
    await expect(connectClient(b.urls.mqtt)).rejects.toThrow();
    await expect(connectClient(`${b.urls.ws}/mqtt`)).rejects.toThrow();
    await clients[0]!.endAsync();
    let fourth: MqttClient | undefined;
    // The broker counts the socket free once its close event ran; retry until then.
    await until(async () => {
      fourth = await connectClient(b.urls.mqtt).catch(() => undefined);
      return fourth !== undefined;
    }, 'a connection after one closed');
    cleanup.push(() => closeClients([fourth]));
    expect(fourth?.connected).toBe(true);
  });

  it('refuses retained topics beyond the quota; edits and clears of own topics still work (AUTH-8)', async () => {
    const b = await broker({ retainedQuota: 5 });
    const alice = await generateIdentity();
    const { client } = await login(b, alice);
    for (let i = 1; i <= 5; i += 1) {
      const m = await message(alice, messageId(i));
      await expectAccepted(client, m.topic, m.payload);
    }
    // Not retained: no quota.
    const typing = `mqchat/v1/room/${ROOM}/typing/${alice.userId}`;
    const notice = await signEnvelope(alice, typing, {
      v: 1,
      t: 'typing',
      from: alice.userId,
      ts: Date.now(),
    });
    await expectAccepted(client, typing, encodeEnvelope(notice), false);
    const sixth = await message(alice, messageId(6));
    await expectRefused(client, sixth.topic, sixth.payload);

    const { client: again } = await login(b, alice);
    const edit = await message(alice, messageId(1), 'edited');
    await expectAccepted(again, edit.topic, edit.payload);
    await expectAccepted(again, t.message(ROOM, 0, messageId(2)), '');
    await expectAccepted(again, sixth.topic, sixth.payload);
    const seventh = await message(alice, messageId(7));
    await expectRefused(again, seventh.topic, seventh.payload);
  });

  it('refuses retained publishes outside the prefix in authenticated mode, and passes plain ones', async () => {
    const b = await broker();
    const alice = await generateIdentity();
    const { client, log } = await login(b, alice);
    await client.subscribeAsync('chat/lobby/#', { qos: 1 });
    await expectAccepted(client, 'chat/lobby/alice', 'hi from the classic chat', false);
    await log.waitForTopic('chat/lobby/alice');
    await expectRefused(client, 'chat/lobby/alice', 'kept forever?', true);
  });
});
