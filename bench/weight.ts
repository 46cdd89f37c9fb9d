import { heartbeatSeconds } from '../src/core/presence.ts';
import { generateDhKeyPair } from '../src/protocol/dh.ts';
import { sealDirect } from '../src/protocol/dms.ts';
import { makeMessageId, randomBytes, toHexId } from '../src/protocol/ids.ts';
import { generateIdentity } from '../src/protocol/keys.ts';
import { makeHere, makeMessage, makeReaction, makeTyping, type Outgoing } from '../src/protocol/messages.ts';
import { LIKE } from '../src/protocol/reactions.ts';
import { topics } from '../src/protocol/topics.ts';
import { realClient } from '../tests/helpers/real.ts';
import { startBenchBroker } from './brokers.ts';
import { TEXT_40 } from './crypto-ops.ts';
import { int, num, pool, sleep, waitFor, type BenchContext, type GroupResult, type Table } from './lib.ts';

const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/** Bytes of an MQTT variable byte integer (the remaining length; MQTT 5 property lengths). */
const varintLength = (value: number) => (value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4);

/**
 * Size of a PUBLISH packet: fixed header (1 byte + remaining length), topic (2-byte length + UTF-8),
 * packet id for QoS 1, and in MQTT 5 the properties (here only Message Expiry Interval, 5 bytes).
 */
export const publishBytes = (topic: string, payload: number, qos: 0 | 1, version: 4 | 5, expiry: boolean) => {
  const properties = version === 5 ? (expiry ? 5 : 0) : 0;
  const variable =
    2 + utf8Length(topic) + (qos > 0 ? 2 : 0) + (version === 5 ? varintLength(properties) + properties : 0);
  const remaining = variable + payload;
  return 1 + varintLength(remaining) + remaining;
};

/** A server-to-client WebSocket frame header (unmasked); a browser's frames add a 4-byte mask. */
const wsHeader = (payload: number) => (payload < 126 ? 2 : payload < 65_536 ? 4 : 10);

/** The fields of a 40-character room message as the ChatClient sends it (with its sequence number). */
const typical = { name: 'Alice', text: TEXT_40, seq: 1234 };

export const typicalMessage = async () =>
  makeMessage(topics(), await generateIdentity(), {
    ...typical,
    room: 'general',
    page: 3,
    id: makeMessageId(randomBytes),
    ts: Date.now(),
  });

interface Item {
  what: string;
  topic: string;
  payload: number;
  qos: 0 | 1;
  expiry: boolean;
}

const item = (what: string, outgoing: Outgoing<unknown>): Item => ({
  what,
  topic: outgoing.topic,
  payload: outgoing.payload.length,
  qos: outgoing.qos,
  expiry: outgoing.expiry !== undefined,
});

/** Presence deliveries per second in a room of n: n members each beat every hb(n) s to n subscribers (PRES-2). */
const presenceRate = (n: number) => (n * n) / heartbeatSeconds(n);

interface Measured {
  members: number;
  hbReal: number;
  hbUsed: number;
  joinDeliveries: number;
  joinSeconds: number;
  windowSeconds: number;
  count: number;
}

/**
 * N real ChatClients (MQTT.js over WebSocket) in one room on the bundled broker. Heartbeats come every
 * `hbUsed` seconds instead of the rule's hb(N) (the protocol's minimum is 10 s); the count over one
 * interval, divided by hb(N) / hbUsed, is the rate at the real interval.
 */
const measurePresence = async (members: number, hbUsed: number, ctx: BenchContext): Promise<Measured> => {
  const hbReal = heartbeatSeconds(members);
  const broker = await startBenchBroker('bundled');
  const room = `presence-${members}`;
  let count = 0;
  const clients = await pool(
    Array.from({ length: members }, (_, i) => i),
    20,
    async (i) => {
      // The interval of the final room, scaled, from the first beat on: once everyone has joined, every
      // member beats exactly once per interval, so the steady state starts at once.
      const client = await realClient(broker.urls.ws, `Member ${i}`, { heartbeatSeconds: () => hbUsed });
      client.transport.on('message', ({ topic }) => topic.includes('/here/') && count++);
      return client;
    },
  );
  try {
    const joinStart = Date.now();
    await pool(clients, 10, async (client) => {
      await client.start();
      await waitFor(() => client.transport.status === 'online', 'online', 20_000);
      await client.join(room);
    });
    await waitFor(
      () => clients.every((client) => client.members(room).length === members),
      `all ${members} members to see each other`,
      120_000,
    );
    const joinSeconds = (Date.now() - joinStart) / 1000;
    const joinDeliveries = count;
    ctx.log(`weight: ${members} members joined in ${joinSeconds.toFixed(1)} s; counting for ${hbUsed} s`);
    const before = count;
    const windowStart = Date.now();
    await sleep(hbUsed * 1000);
    const windowSeconds = (Date.now() - windowStart) / 1000;
    return { members, hbReal, hbUsed, joinDeliveries, joinSeconds, windowSeconds, count: count - before };
  } finally {
    // Broker first: a client closing offline skips its goodbyes, which would be N² more deliveries. MQTT.js
    // may wait for acknowledgements that will never come; close() has stopped reconnecting by then.
    await broker.close();
    await Promise.all(
      clients.map((client) => Promise.race([client.close().catch(() => undefined), sleep(2000)])),
    );
  }
};

export const weightGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const t = topics();
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const [aliceDh, bobDh] = [await generateDhKeyPair(), await generateDhKeyPair()];
  const room = 'general';
  const page = 3;
  const id = makeMessageId(randomBytes);
  const ts = Date.now();
  const conn = toHexId(randomBytes(6));
  const [dm] = await sealDirect({
    topics: t,
    identity: alice,
    to: bob.userId,
    toDhKey: bobDh.publicKey,
    ownDhKey: aliceDh.publicKey,
    id,
    name: 'Alice',
    ts,
    text: TEXT_40,
  });
  const items: Item[] = [
    item('message, 40 characters', await makeMessage(t, alice, { ...typical, room, page, id, ts })),
    item('like', await makeReaction(t, alice, { room, page, id }, [LIKE], ts)),
    item(
      'presence update (here)',
      await makeHere(t, alice, room, { name: 'Alice', conn, hb: heartbeatSeconds(50), on: true, ts }),
    ),
    item('typing notice', await makeTyping(t, alice, room, ts)),
    item('direct message, 40 characters (one of its two copies)', dm!),
  ];
  const wire: Table = {
    title:
      'Bytes on the wire per item (room "general", page 3, name "Alice"; QoS 1 items also cost a 4-byte PUBACK per hop)',
    columns: [
      'item',
      'topic',
      'payload',
      'MQTT 3.1.1 PUBLISH',
      'MQTT 5 PUBLISH',
      'to a browser over WebSocket (3.1.1)',
      'QoS',
    ],
    rows: items.map((i) => {
      const v4 = publishBytes(i.topic, i.payload, i.qos, 4, i.expiry);
      const v5 = publishBytes(i.topic, i.payload, i.qos, 5, i.expiry);
      return [
        i.what,
        int(utf8Length(i.topic)),
        int(i.payload),
        int(v4),
        int(v5),
        int(v4 + wsHeader(v4)),
        String(i.qos),
      ];
    }),
  };
  const here = items[2]!;
  const herePacket = publishBytes(here.topic, here.payload, here.qos, 4, here.expiry);
  const hereWs = herePacket + wsHeader(herePacket);
  const sizes = [10, 50, 200, 1000];
  const computed: Table = {
    title:
      'Presence cost by the heartbeat rule (src/core/presence.ts heartbeatSeconds: max(60, 2·N) s, at most 6 h)',
    columns: [
      'members N',
      'beat every',
      'room: deliveries/s (N²/hb)',
      'each member receives',
      `room: bytes/s to browsers (${int(hereWs)} B each)`,
    ],
    rows: sizes.map((n) => [
      int(n),
      `${int(heartbeatSeconds(n))} s`,
      num(presenceRate(n), 1),
      `${num((presenceRate(n) / n) * 60, 1)} /min`,
      int(presenceRate(n) * hereWs),
    ]),
  };

  const plan = ctx.quick
    ? [{ members: 20, hb: 10 }]
    : [
        { members: 50, hb: 10 },
        { members: 200, hb: 20 },
      ];
  const measured: Measured[] = [];
  for (const { members, hb } of plan) measured.push(await measurePresence(members, hb, ctx));
  const measuredTable: Table = {
    title:
      'Presence measured: N real clients in one room on the bundled broker, steady state after the joins',
    columns: [
      'members N',
      'beat (rule → used)',
      'here deliveries while joining',
      `counted over one beat`,
      'room: deliveries/s at the real beat',
      'computed N²/hb',
      'measured ÷ computed',
    ],
    rows: measured.map((m) => {
      const real = m.count / m.windowSeconds / (m.hbReal / m.hbUsed);
      return [
        int(m.members),
        `${m.hbReal} s → ${m.hbUsed} s`,
        `${int(m.joinDeliveries)} in ${num(m.joinSeconds, 1)} s`,
        `${int(m.count)} in ${num(m.windowSeconds, 1)} s`,
        num(real, 1),
        num(presenceRate(m.members), 1),
        `${(real / presenceRate(m.members)).toFixed(2)}×`,
      ];
    }),
  };

  return {
    name: 'weight',
    title: 'Protocol weight',
    method: [
      'Payloads are built with the real builders (src/protocol/messages.ts `makeMessage`, `makeReaction`, `makeHere`, `makeTyping`; `sealDirect` for a DM) with a fresh identity, so the user id (43 characters), message id (32), signature (86) and timestamps have their real lengths. Packet sizes add the MQTT fixed header, topic length, packet id (QoS 1) and, for MQTT 5, the Message Expiry Interval property the client sets on history and presence. "To a browser over WebSocket" adds the 2- or 4-byte frame header of one frame per packet, as the bundled broker sends it (bare aedes sends about five frames per PUBLISH, each with its own header).',
      `Presence, measured: N ChatClients (tests/helpers/real.ts \`realClient\`, MQTT.js over WebSocket) join one room on the bundled broker (own process) from one Node process. To see a steady state in seconds rather than minutes, heartbeats are sped up with the client's \`heartbeatSeconds\` option: it returns a fixed interval (${plan.map((p) => `${p.hb} s for ${p.members} members`).join(', ')}; the protocol's minimum is 10 s, PRES-1) in place of the rule's hb(N) from the first beat on, so every member beats once per interval as soon as all have joined, instead of first at a smaller room's interval. Once every member sees all N, the bench counts every \`here\` delivery to every client over one interval and divides by the speed-up hb(N) ÷ interval.`,
    ],
    tables: [wire, computed, measuredTable],
    notes: [
      "Every beat goes to all N subscribers of `here/+`, the sender's own echo included, hence N² per interval.",
      'Joining costs more than the steady state: the joiner receives every retained `here` (N) and its announcement reaches everyone (N), so a room filling up one by one costs about N² deliveries in all; the "while joining" column counts them.',
      'All N clients run in the bench process, which verifies every delivery (Ed25519) for all of them: the speed-up is kept small enough for that one process to keep up, which the measured ÷ computed column checks.',
      ...(ctx.quick ? ['Quick run: one room of 20 members only.'] : []),
    ],
  };
};
