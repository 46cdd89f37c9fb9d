import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { backoffDelay } from '../src/core/backoff.ts';
import { heartbeatSeconds } from '../src/core/presence.ts';
import { generateDhKeyPair } from '../src/protocol/dh.ts';
import { sealDirect } from '../src/protocol/dms.ts';
import { makeMessageId, randomBytes, toHexId } from '../src/protocol/ids.ts';
import { generateIdentity } from '../src/protocol/keys.ts';
import {
  makeGone,
  makeHere,
  makeMessage,
  makeReaction,
  makeTyping,
  type Outgoing,
} from '../src/protocol/messages.ts';
import { LIKE } from '../src/protocol/reactions.ts';
import { topics } from '../src/protocol/topics.ts';
import type { Identity } from '../src/protocol/keys.ts';
import { realClient, tempDir } from '../tests/helpers/real.ts';
import { startBenchBroker, startPersistentBroker, type RestartableBroker } from './brokers.ts';
import { TEXT_40 } from './crypto-ops.ts';
import {
  int,
  num,
  pool,
  processCpuMs,
  sleep,
  waitFor,
  type BenchContext,
  type GroupResult,
  type Table,
} from './lib.ts';

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
  /** Broker CPU time (user + system) over the counting window, ms. */
  brokerCpu: number;
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
    const cpuBefore = await processCpuMs(broker.pid);
    const windowStart = Date.now();
    await sleep(hbUsed * 1000);
    const windowSeconds = (Date.now() - windowStart) / 1000;
    const brokerCpu = (await processCpuMs(broker.pid)) - cpuBefore;
    return {
      members,
      hbReal,
      hbUsed,
      joinDeliveries,
      joinSeconds,
      windowSeconds,
      count: count - before,
      brokerCpu,
    };
  } finally {
    // Broker first: a client closing offline skips its goodbyes, which would be N² more deliveries. MQTT.js
    // may wait for acknowledgements that will never come; close() has stopped reconnecting by then.
    await broker.close();
    await Promise.all(
      clients.map((client) => Promise.race([client.close().catch(() => undefined), sleep(2000)])),
    );
  }
};

// ---- presence after a broker restart -------------------------------------------------------------

interface Settle {
  members: number;
  departed: number;
  /** ms from the restarted broker listening until the observer was online again. */
  online: number;
  /** ms until a fresh beat of every returning member had reached the observer; NaN: not in the wait. */
  announced: number;
  /** ms until the observer's member list was exactly the returning members and itself; NaN: never. */
  right: number;
  /** At the end of the wait: departed members still listed, returning members missing. */
  stillListed: number;
  missing: number;
  /** Returning members the observer still dates by a beat from before the restart, fresh beat received. */
  staleSeen: number;
  /** Returning members the observer dropped for a while (an old will landed before their new beat). */
  dropped: number;
  waited: number;
  /** Broker CPU time used from the restart to the end of the wait, ms. */
  brokerCpu: number;
}

interface LightMember {
  identity: Identity;
  /** Resolves once connected the first time and its `here` is acknowledged. */
  ready: Promise<void>;
  /** Goes away without a DISCONNECT (its will stays with the broker), and never comes back. */
  stop: () => void;
}

/**
 * A room member as light as a room member can be: MQTT.js over WebSocket, and like the ChatClient a new
 * conn, client id and signed Last Will for every connection (PRES-3) and a signed `here` on every
 * connect (PRES-1) (src/protocol builders), reconnecting with the ChatClient's backoff (CONN-2). It
 * subscribes to nothing (see the notes).
 */
const lightMember = async (url: string, room: string, index: number, hb: number): Promise<LightMember> => {
  const t = topics();
  const identity = await generateIdentity();
  /** A new connection's id and will; MQTT.js reconnects with `client.options`, so they go there. */
  const session = async () => {
    const conn = toHexId(randomBytes(6));
    const will = await makeGone(t, identity, conn, Date.now());
    return {
      conn,
      clientId: `mqchat-${conn}`,
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1 as const, retain: true },
    };
  };
  let current = await session();
  let attempt = 0;
  let stopped = false;
  const client: MqttClient = mqtt.connect(url, {
    clientId: current.clientId,
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    will: current.will,
  });
  let announced!: () => void;
  const ready = new Promise<void>((resolve) => (announced = resolve));
  client.on('connect', () => {
    attempt = 0;
    const { conn } = current;
    void makeHere(t, identity, room, { name: `Member ${index}`, conn, hb, on: true, ts: Date.now() }).then(
      (here) =>
        client.publish(here.topic, Buffer.from(here.payload), { qos: 1, retain: true }, () => announced()),
    );
  });
  client.on('close', () => {
    if (stopped) return;
    setTimeout(
      () => {
        if (stopped) return;
        void session().then((next) => {
          if (stopped) return;
          current = next;
          client.options.clientId = next.clientId;
          client.options.will = next.will;
          client.reconnect();
        });
      },
      backoffDelay(attempt++, Math.random()),
    );
  });
  client.on('error', () => undefined);
  return {
    identity,
    ready,
    stop: () => {
      stopped = true;
      client.end(true);
    },
  };
};

/**
 * `members` light members and one real ChatClient (the observer) in one room on the bundled broker with
 * level persistence. The broker is killed (SIGKILL) and started again on the same directory and ports;
 * `departed` members go away for good while it is down. From the moment the new broker listens, the
 * bench polls the observer's member list for `wait` seconds.
 */
const presenceRestart = async (
  members: number,
  departed: number,
  wait: number,
  ctx: BenchContext,
): Promise<Settle> => {
  const room = 'restart';
  const { dir, remove } = await tempDir();
  let broker: RestartableBroker = await startPersistentBroker(dir);
  const ports = { mqtt: Number(new URL(broker.urls.mqtt).port), ws: Number(new URL(broker.urls.ws).port) };
  const url = broker.urls.ws;
  const hb = heartbeatSeconds(members + 1);
  const crowd: LightMember[] = [];
  const observer = await realClient(url, 'Observer');
  try {
    const joinStart = Date.now();
    crowd.push(
      ...(await pool(
        Array.from({ length: members }, (_, i) => i),
        50,
        (i) => lightMember(url, room, i, hb),
      )),
    );
    await Promise.all(crowd.map((member) => member.ready));
    await observer.start();
    await waitFor(() => observer.transport.status === 'online', 'observer online', 20_000);
    await observer.join(room);
    await waitFor(() => observer.members(room).length === members + 1, 'observer to see everyone', 60_000);
    ctx.log(
      `weight: ${members} members in the room in ${((Date.now() - joinStart) / 1000).toFixed(1)} s; restarting the broker`,
    );

    const leaving = crowd.slice(0, departed);
    const returning = new Set(crowd.slice(departed).map((member) => member.identity.userId));
    const gone = new Set(leaving.map((member) => member.identity.userId));
    const expected = new Set([...returning, observer.identity.userId]);
    // Beats signed after the kill reaching the observer's transport (live, or retained if the member was
    // back before the observer), by member.
    const hereTopic = new RegExp(`/v1/room/${room}/here/([^/]+)$`);
    const fresh = new Set<string>();
    let killedAt = Infinity;
    observer.transport.on('message', ({ topic, payload }) => {
      const user = hereTopic.exec(topic)?.[1];
      if (user === undefined || !returning.has(user) || payload.length === 0) return;
      try {
        const { ts } = JSON.parse(new TextDecoder().decode(payload)) as { ts: number };
        if (ts >= killedAt) fresh.add(user);
      } catch {
        // Not an envelope: not a beat.
      }
    });
    const dropped = new Set<string>();
    observer.on('presence', (_room, _list, changes) => {
      for (const change of changes)
        if (change.kind === 'leave' && returning.has(change.user) && killedAt !== Infinity)
          dropped.add(change.user);
    });
    await broker.kill();
    killedAt = Date.now();
    for (const member of leaving) member.stop();
    broker = await startPersistentBroker(dir, ports);
    const start = performance.now();
    const cpuStart = await processCpuMs(broker.pid);
    let online = Number.NaN;
    let announced = Number.NaN;
    let right = Number.NaN;
    while (performance.now() - start < wait * 1000) {
      const now = performance.now() - start;
      if (Number.isNaN(online) && observer.transport.status === 'online') online = now;
      const list = observer.members(room);
      if (Number.isNaN(announced) && fresh.size === returning.size) announced = now;
      if (Number.isNaN(right) && list.length === expected.size && list.every((m) => expected.has(m.user)))
        right = now;
      if (!Number.isNaN(right) && !Number.isNaN(announced)) break;
      await sleep(20);
    }
    const waited = performance.now() - start;
    const brokerCpu = (await processCpuMs(broker.pid)) - cpuStart;
    const list = observer.members(room);
    return {
      members,
      departed,
      online,
      announced,
      right,
      stillListed: list.filter((m) => gone.has(m.user)).length,
      missing: [...returning].filter((user) => !list.some((m) => m.user === user)).length,
      staleSeen: list.filter((m) => fresh.has(m.user) && m.seen < killedAt).length,
      dropped: dropped.size,
      waited,
      brokerCpu,
    };
  } finally {
    for (const member of crowd) member.stop();
    await Promise.race([observer.close().catch(() => undefined), sleep(2000)]);
    await broker.close();
    await remove();
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
      'broker CPU over the beat used',
      'broker CPU at the real beat',
    ],
    rows: measured.map((m) => {
      const real = m.count / m.windowSeconds / (m.hbReal / m.hbUsed);
      const cpuShare = m.brokerCpu / 10 / m.windowSeconds;
      return [
        int(m.members),
        `${m.hbReal} s → ${m.hbUsed} s`,
        `${int(m.joinDeliveries)} in ${num(m.joinSeconds, 1)} s`,
        `${int(m.count)} in ${num(m.windowSeconds, 1)} s`,
        num(real, 1),
        num(presenceRate(m.members), 1),
        `${(real / presenceRate(m.members)).toFixed(2)}×`,
        `${num(cpuShare, 1)} % of a core`,
        `${num(cpuShare / (m.hbReal / m.hbUsed), 2)} %`,
      ];
    }),
  };

  const restart = ctx.quick ? { members: 100, departed: 5 } : { members: 1000, departed: 50 };
  // Long enough for the broker's will grace (5 s, broker/wills.js) and a good deal more.
  const settle = await presenceRestart(restart.members, restart.departed, 40, ctx);
  const seconds = (value: number) => `${num(value / 1000, 1)} s`;
  const after = (value: number) =>
    Number.isNaN(value) ? `not within ${num(settle.waited / 1000, 0)} s` : seconds(value);
  const settleTable: Table = {
    title: `Presence after a broker restart: ${int(settle.members)} members and an observer in one room; the broker (level persistence) is killed and started again on the same directory, and ${int(settle.departed)} members do not come back (times from the new broker listening)`,
    columns: [
      'observer online again',
      'a fresh beat of every returning member reached the observer',
      'member list right (returning listed, departed gone)',
      'departed still listed / returning missing at the end',
      'returning members the observer still dates by a beat from before the restart',
      'returning members the observer dropped for a while',
      'broker CPU until then',
    ],
    numeric: [true, true, true, true, true, true, true],
    rows: [
      [
        after(settle.online),
        after(settle.announced),
        after(settle.right),
        `${int(settle.stillListed)} / ${int(settle.missing)}`,
        `${int(settle.staleSeen)} of ${int(settle.members - settle.departed)}`,
        `${int(settle.dropped)} of ${int(settle.members - settle.departed)}`,
        seconds(settle.brokerCpu),
      ],
    ],
  };
  const big = measured.at(-1)!;
  const perCpuSecond = big.count / (big.brokerCpu / 1000);
  const storm = 2 * settle.members * settle.members;

  return {
    name: 'weight',
    title: 'Protocol weight',
    method: [
      'Payloads are built with the real builders (src/protocol/messages.ts `makeMessage`, `makeReaction`, `makeHere`, `makeTyping`; `sealDirect` for a DM) with a fresh identity, so the user id (43 characters), message id (32), signature (86) and timestamps have their real lengths. Packet sizes add the MQTT fixed header, topic length, packet id (QoS 1) and, for MQTT 5, the Message Expiry Interval property the client sets on history and presence. "To a browser over WebSocket" adds the 2- or 4-byte frame header of one frame per packet, as the bundled broker sends it (bare aedes sends about five frames per PUBLISH, each with its own header).',
      `Presence, measured: N ChatClients (tests/helpers/real.ts \`realClient\`, MQTT.js over WebSocket) join one room on the bundled broker (own process) from one Node process. To see a steady state in seconds rather than minutes, heartbeats are sped up with the client's \`heartbeatSeconds\` option: it returns a fixed interval (${plan.map((p) => `${p.hb} s for ${p.members} members`).join(', ')}; the protocol's minimum is 10 s, PRES-1) in place of the rule's hb(N) from the first beat on, so every member beats once per interval as soon as all have joined, instead of first at a smaller room's interval. Once every member sees all N, the bench counts every \`here\` delivery to every client over one interval and divides by the speed-up hb(N) ÷ interval. Over the same interval it reads the broker process's CPU time (user + system, /proc/<pid>/stat): while only presence runs, that is presence's share of a core at the interval used, and divided by the same speed-up, at the rule's interval (the broker's work is per delivery, so it scales with the rate; its idle cost, a PINGREQ per client a minute, is negligible).`,
      `Presence after a restart: ${int(settle.members)} light members (MQTT.js over WebSocket; like the ChatClient, each takes a new conn, client id and signed Last Will \`gone\` for every connection, PRES-3, and publishes a signed \`here\` from src/protocol's builders, hb(N) = ${heartbeatSeconds(settle.members + 1)} s, reconnecting with the app's backoff CONN-2 and announcing themselves on every connect, PRES-1) and one real ChatClient, the observer, in one room on the bundled broker with level persistence (own process). Once the observer lists everyone, the broker is killed (SIGKILL) and started again on the same directory and ports, and ${int(settle.departed)} members go away for good meanwhile (their tabs closed). From the moment the new broker listens, the bench polls the observer's member list every 20 ms for up to 40 s.`,
    ],
    tables: [wire, computed, measuredTable, settleTable],
    notes: [
      "Every beat goes to all N subscribers of `here/+`, the sender's own echo included, hence N² per interval.",
      'Joining costs more than the steady state: the joiner receives every retained `here` (N) and its announcement reaches everyone (N), so a room filling up one by one costs about N² deliveries in all; the "while joining" column counts them.',
      'All N clients run in the bench process, which verifies every delivery (Ed25519) for all of them: the speed-up is kept small enough for that one process to keep up, which the measured ÷ computed column checks.',
      `Light members subscribe to nothing, so one process can hold ${int(settle.members)} of them: after a restart a real room of ${int(settle.members)} costs more, because every member re-fetches the room's retained \`here\` (N each) and receives everyone's fresh beat (N each): 2·N² = ${int(storm)} deliveries, about ${num(storm / perCpuSecond, 0)} s of broker CPU at the ${int(perCpuSecond)} presence deliveries per broker CPU-second measured above for ${big.members} members. Members could skip the beat on reconnect while their retained \`here\` is still fresh (its \`ts\` within hb), which halves that.`,
      "Departed members leave the list when the restarted broker publishes the Last Wills its previous process stored, 5 s after it starts (`willGrace`, broker/wills.js). Every member's old will is published, since every member reconnected under a new client id, but each names a connection nobody holds any more (a new conn per connection, PRES-3), so it removes only members whose newest beat is still from before the restart: those who have not come back. The grace lets the members who reconnect at once announce their new conn first; the column of returning members dropped for a while counts those whose new beat reached the observer only after their old will (they are listed again when it arrives).",
      "Until this change the grace was 30 s (the longest reconnect backoff, CONN-2) and the list was right after 29.5 s: clients kept one conn per tab across reconnects, so a will published for a member who came back still matched that member and would have hidden it from anyone joining later, until its next beat. Before that, aedes published leftover wills only on its will sweep, 4 minutes after start, and a graceful restart (SIGTERM) published every member's will as it shut down, emptying every member list.",
      'Before broker/retained.js numbered a retained message again once stored, a few of these fresh beats (4 to 7 of 950 in our runs) never reached the observer at all: aedes numbers a message before storing it, and each client drops one numbered below the highest it has had, so a beat whose store was overtaken was dropped as a duplicate.',
      "The column of members dated by a beat from before the restart counts an ordering problem: after a reconnect the retained `here` replay can reach the observer after the member's fresh beat (signatures are verified concurrently, so even arrival order is not kept). RoomPresence.announce ignores a `here` older than the one it holds (PRES-5), and a beat of a connection whose will it has seen (PRES-3), so it should be 0.",
      ...(ctx.quick ? ['Quick run: one room of 20 members only, and 100 members for the restart.'] : []),
    ],
  };
};
