import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { typicalMessage } from './weight.ts';
import { BROKER_LABELS, startBenchBroker, type BenchBroker, type BrokerKind } from './brokers.ts';
import {
  int,
  mb,
  median,
  ms,
  num,
  percentile,
  pool,
  processCpuMs,
  processMemory,
  ratio,
  sleep,
  type BenchContext,
  type GroupResult,
  type Table,
} from './lib.ts';

const KINDS: BrokerKind[] = ['bundled', 'aedes', 'mosquitto'];

interface Load {
  qos: 0 | 1;
  fanout: number;
  transport: 'tcp' | 'ws';
}

const LOADS: Load[] = [0, 1].flatMap((qos) =>
  (['tcp', 'ws'] as const).flatMap((transport) =>
    [1, 50].map((fanout) => ({ qos: qos as 0 | 1, fanout, transport })),
  ),
);

const loadName = (load: Load) =>
  `QoS ${load.qos}, 1→${load.fanout}, ${load.transport === 'tcp' ? 'TCP' : 'WebSocket'}`;

interface LoadResult {
  rate: number;
  /** Deliveries per second of broker CPU time (user + system). */
  efficiency: number;
  /** CPU use of the bench process (the load generator) during the run, % of one core. */
  clientCpu: number;
  p50: number;
  p99: number;
  lost: number;
}

const connect = (url: string, clientId: string) =>
  new Promise<MqttClient>((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
    });
    client.once('connect', () => {
      // As browsers do for WebSockets (and ws for its sockets): no Nagle delay on the client's side.
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      resolve(client);
    });
    client.once('error', reject);
  });

let sessionCounter = 0;

/**
 * The clients of one load on one broker: `fanout` subscribers and a publisher on one topic, connected
 * once and reused by every run (a payload carries its run number, so a straggler from an earlier run is
 * not counted).
 */
const openLoad = async (broker: BenchBroker, load: Load, payloadBytes: number) => {
  const url = load.transport === 'tcp' ? broker.urls.mqtt : broker.urls.ws;
  const id = `${process.pid}-${++sessionCounter}`;
  const topic = `bench/${id}`;
  const subscribers = await pool(
    Array.from({ length: load.fanout }, (_, i) => i),
    25,
    (i) => connect(url, `sub-${id}-${i}`),
  );
  await Promise.all(subscribers.map((client) => client.subscribeAsync(topic, { qos: load.qos })));
  const publisher = await connect(url, `pub-${id}`);
  let onDelivery: (message: Buffer) => void = () => undefined;
  for (const client of subscribers) client.on('message', (_topic, message) => onDelivery(message));
  let runNumber = 0;

  /**
   * One closed-loop run: the publisher keeps at most `window` messages in flight (published but not
   * yet received by every subscriber), so every broker gets the same offered load and no queue grows
   * without bound. Each payload carries its send time (performance.now(), same process), so every
   * delivery is a latency sample.
   */
  const run = async (deliveries: number): Promise<LoadResult> => {
    const current = ++runNumber;
    const messages = Math.ceil(deliveries / load.fanout);
    const total = messages * load.fanout;
    const window = load.fanout === 1 ? 100 : 10;
    const latencies = new Float64Array(total);
    let delivered = 0;
    let sent = 0;
    let lastProgress = performance.now();
    const payload = Buffer.alloc(payloadBytes, 0x61);
    payload.writeUInt32LE(current, 8);

    const brokerCpu = await processCpuMs(broker.pid);
    const clientCpu = process.cpuUsage();
    const start = performance.now();
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const pump = () => {
      while (sent < messages && sent * load.fanout - delivered < window * load.fanout) {
        payload.writeDoubleLE(performance.now(), 0);
        publisher.publish(topic, payload, { qos: load.qos });
        sent++;
      }
    };
    onDelivery = (message) => {
      if (message.readUInt32LE(8) !== current || delivered >= total) return;
      const now = performance.now();
      latencies[delivered++] = now - message.readDoubleLE(0);
      lastProgress = now;
      if (delivered === total) finished();
      else pump();
    };
    // QoS 0 may drop under pressure: a run that makes no progress for 5 s ends and counts what was lost.
    const stall = setInterval(() => performance.now() - lastProgress > 5000 && finished(), 500);
    pump();
    await done;
    clearInterval(stall);
    const end = delivered === total ? performance.now() : lastProgress;
    const { user, system } = process.cpuUsage(clientCpu);
    const brokerCpuMs = (await processCpuMs(broker.pid)) - brokerCpu;
    const samples = Array.from(latencies.subarray(0, delivered));
    return {
      rate: (delivered / (end - start)) * 1000,
      efficiency: (delivered / brokerCpuMs) * 1000,
      clientCpu: (user + system) / 10 / (performance.now() - start),
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      lost: total - delivered,
    };
  };
  const close = () => Promise.all([publisher, ...subscribers].map((client) => client.endAsync(true)));
  return { run, close };
};

// ---- idle WebSocket connections -----------------------------------------------------------------

/** A minimal MQTT 3.1.1 CONNECT: clean session, keepalive 0 (no pings while idle), the given client id. */
const connectPacket = (clientId: string): Buffer => {
  const id = Buffer.from(clientId);
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0]);
  const remaining = variable.length + 2 + id.length;
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, Buffer.from([0, id.length]), id]);
};

const openIdle = (url: string, clientId: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url + '/mqtt', 'mqtt');
    ws.once('open', () => ws.send(connectPacket(clientId)));
    ws.once('message', (data: Buffer) => (data[0] === 0x20 ? resolve(ws) : reject(new Error('no CONNACK'))));
    ws.once('error', reject);
  });

interface IdleResult {
  perConnection: number;
  base: number;
  loaded: number;
  openSeconds: number;
}

/** The soft limit on open files of this process (Linux), which the broker children inherit. */
const openFileLimit = async (): Promise<number> => {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
};

/** N idle MQTT-over-WebSocket connections on a fresh broker: RSS after minus RSS before, per connection. */
const idleConnections = async (kind: BrokerKind, count: number): Promise<IdleResult> => {
  const broker = await startBenchBroker(kind);
  try {
    await sleep(300);
    await broker.gc();
    const base = (await processMemory(broker.pid)).rss;
    const start = performance.now();
    const sockets = await pool(
      Array.from({ length: count }, (_, i) => i),
      50,
      (i) => openIdle(broker.urls.ws, `idle-${i}`),
    );
    const openSeconds = (performance.now() - start) / 1000;
    await sleep(1000);
    await broker.gc();
    const loaded = (await processMemory(broker.pid)).rss;
    for (const ws of sockets) ws.terminate();
    return { perConnection: (loaded - base) / count, base, loaded, openSeconds };
  } finally {
    await broker.close();
  }
};

// ---- a subscriber that stops reading ------------------------------------------------------------

interface Phase {
  rate: number;
  p50: number;
  p99: number;
}

interface SlowResult {
  /** The other subscriber while the slow one still reads, and while it is stuck. */
  before: Phase;
  during: Phase;
  /** Longest time without a delivery to the other subscriber while the slow one is stuck, ms. */
  longestGap: number;
  /** Broker RSS in KiB: when the slow subscriber stops reading, then once a second. */
  rss: number[];
  /** The bundled broker's counters (broker/slow-subscribers.js); empty for the others. */
  stats: Record<string, number>;
}

/**
 * One publisher (TCP) and two subscribers (WebSocket) on one topic. The publisher runs a closed loop on the
 * normal subscriber: at most 100 messages published and not yet received by it, so it goes as fast as
 * that subscriber is served and no faster. After `baseline` seconds the other subscriber subscribes and
 * stops reading its socket (the stream is paused, so the kernel buffers fill and then the broker's) for
 * `stuck` seconds.
 */
const slowSubscriber = async (
  kind: BrokerKind,
  qos: 0 | 1,
  baseline: number,
  stuck: number,
  payloadBytes: number,
): Promise<SlowResult> => {
  const broker = await startBenchBroker(kind);
  const id = `${process.pid}-${++sessionCounter}`;
  const topic = `bench/slow/${id}`;
  const clients: MqttClient[] = [];
  let running = true;
  let stall: NodeJS.Timeout | undefined;
  try {
    const normal = await connect(broker.urls.ws, `normal-${id}`);
    const slow = await connect(broker.urls.ws, `slow-${id}`);
    const publisher = await connect(broker.urls.mqtt, `pub-${id}`);
    clients.push(normal, slow, publisher);
    await normal.subscribeAsync(topic, { qos });

    const arrivals: number[] = [];
    const latencies: number[] = [];
    let sent = 0;
    let given = 0;
    let lastProgress = performance.now();
    const pump = () => {
      while (running && sent - arrivals.length - given < 100) {
        // A fresh buffer each time: a socket that is not drained keeps a reference to what it was given.
        const payload = Buffer.alloc(payloadBytes, 0x61);
        payload.writeDoubleLE(performance.now(), 0);
        publisher.publish(topic, payload, { qos });
        sent++;
      }
    };
    normal.on('message', (_topic, message: Buffer) => {
      const now = performance.now();
      arrivals.push(now);
      latencies.push(now - message.readDoubleLE(0));
      lastProgress = now;
      pump();
    });
    // A broker that stops delivering would hold the window full: after 500 ms without a delivery its
    // messages are given up on and the publisher goes on, so a stall shows as a gap, not as silence.
    stall = setInterval(() => {
      if (performance.now() - lastProgress < 500) return;
      given = sent - arrivals.length;
      lastProgress = performance.now();
      pump();
    }, 100);

    const start = performance.now();
    pump();
    await sleep(baseline * 1000);
    // Subscribed only now and paused at once: a client that had been reading fast would have grown its
    // socket's receive buffer (Linux allows up to 32 MB on loopback) and hide the broker's side for long.
    await slow.subscribeAsync(topic, { qos });
    (slow.stream as unknown as { pause: () => void }).pause();
    const stuckAt = performance.now();
    const rss = [(await processMemory(broker.pid)).rss];
    for (let second = 1; second <= stuck; second++) {
      await sleep(stuckAt + second * 1000 - performance.now());
      rss.push((await processMemory(broker.pid)).rss);
    }
    const end = performance.now();
    running = false;

    // The first second is warm-up (JIT, first buffers) and not counted.
    const phase = (from: number, to: number): Phase => {
      const inside = arrivals.flatMap((time, i) => (time >= from && time < to ? [latencies[i]!] : []));
      return {
        rate: (inside.length / (to - from)) * 1000,
        p50: percentile(inside, 50),
        p99: percentile(inside, 99),
      };
    };
    let longestGap = 0;
    let previous = stuckAt;
    for (const time of [...arrivals.filter((t) => t >= stuckAt && t < end), end]) {
      longestGap = Math.max(longestGap, time - previous);
      previous = time;
    }
    return {
      before: phase(start + 1000, stuckAt),
      during: phase(stuckAt, end),
      longestGap,
      rss,
      stats: await broker.stats(),
    };
  } finally {
    running = false;
    clearInterval(stall);
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await broker.close();
  }
};

// ---- the group ------------------------------------------------------------------------------

export const brokerGroup = async (ctx: BenchContext): Promise<GroupResult> => {
  const runs = ctx.runs(3);
  // Payloads the size of a signed 40-character chat message, as the weight group builds it.
  const payloadBytes = (await typicalMessage()).payload.length;
  const deliveries = ctx.quick ? 2000 : 10_000;
  // The bench process holds one end of every idle socket and each broker the other: both need that many
  // open files (`ulimit -n`; the brokers inherit this process's limit).
  const fileLimit = await openFileLimit();
  const idleWanted = ctx.quick ? 500 : 5000;
  const idleCount = Math.min(idleWanted, Math.floor((fileLimit - 500) / 100) * 100);
  // Each idle run starts three fresh brokers and opens thousands of sockets: two runs are plenty.
  const idleRunCount = Math.min(runs, 2);
  const results = new Map<string, LoadResult[]>();
  const key = (kind: BrokerKind, load: Load) => `${kind} ${loadName(load)}`;
  const idle = new Map<BrokerKind, number[]>();
  const peaks = new Map<string, number>();
  // Fresh brokers for every load, so each peak RSS belongs to that load alone; the kinds take turns
  // within every run, so a ratio compares brokers measured moments apart.
  for (const load of LOADS) {
    const brokers = new Map<BrokerKind, BenchBroker>();
    const sessions = new Map<BrokerKind, Awaited<ReturnType<typeof openLoad>>>();
    try {
      for (const kind of KINDS) {
        const broker = await startBenchBroker(kind);
        brokers.set(kind, broker);
        await sleep(200);
        await broker.gc();
        idle.set(kind, [...(idle.get(kind) ?? []), (await processMemory(broker.pid)).rss]);
        const session = await openLoad(broker, load, payloadBytes);
        sessions.set(kind, session);
        // Warm-up (JIT, first buffers), not counted.
        await session.run(Math.min(deliveries, 2000));
      }
      for (let run = 0; run < runs; run++) {
        for (const kind of KINDS) {
          const result = await sessions.get(kind)!.run(deliveries);
          results.set(key(kind, load), [...(results.get(key(kind, load)) ?? []), result]);
        }
      }
      for (const [kind, broker] of brokers)
        peaks.set(key(kind, load), (await processMemory(broker.pid)).peak);
    } finally {
      await Promise.all([...sessions.values()].map((session) => session.close()));
      await Promise.all([...brokers.values()].map((broker) => broker.close()));
    }
    ctx.log(`broker: ${loadName(load)} done`);
  }

  const pick = (kind: BrokerKind, load: Load, field: keyof LoadResult) =>
    median((results.get(key(kind, load)) ?? []).map((r) => r[field]));
  const maxOf = (kind: BrokerKind, load: Load, field: keyof LoadResult) =>
    Math.max(...(results.get(key(kind, load)) ?? []).map((r) => r[field]));
  const idleRss = (kind: BrokerKind) => median(idle.get(kind) ?? []);

  const labels = KINDS.map((kind) => BROKER_LABELS[kind]);
  const throughput: Table = {
    title: `Deliveries per second (median of ${runs}; higher is better)`,
    columns: ['load', ...labels, 'bundled ÷ bare aedes', 'bundled ÷ Mosquitto'],
    rows: LOADS.map((load) => {
      const [b, a, m] = KINDS.map((kind) => pick(kind, load, 'rate')) as [number, number, number];
      return [loadName(load), num(b), num(a), num(m), ratio(b, a), ratio(b, m)];
    }),
  };
  const efficiency: Table = {
    title: `Deliveries per second of broker CPU time (user + system, from /proc; median of ${runs}; higher is better)`,
    columns: ['load', ...labels, 'bundled ÷ bare aedes', 'bundled ÷ Mosquitto', 'load generator CPU'],
    rows: LOADS.map((load) => {
      const [b, a, m] = KINDS.map((kind) => pick(kind, load, 'efficiency')) as [number, number, number];
      const client = Math.max(...KINDS.map((kind) => pick(kind, load, 'clientCpu')));
      return [loadName(load), num(b), num(a), num(m), ratio(b, a), ratio(b, m), `up to ${int(client)} %`];
    }),
  };
  const latency: Table = {
    title: `Latency under that load, p50 / p99 (median of ${runs}; lower is better)`,
    columns: ['load', ...labels, 'p99 bundled ÷ bare aedes', 'p99 bundled ÷ Mosquitto'],
    rows: LOADS.map((load) => {
      const cells = KINDS.map((kind) => `${num(pick(kind, load, 'p50'))} / ${ms(pick(kind, load, 'p99'))}`);
      const [b, a, m] = KINDS.map((kind) => pick(kind, load, 'p99')) as [number, number, number];
      return [loadName(load), ...cells, ratio(b, a), ratio(b, m)];
    }),
  };
  const memory: Table = {
    title:
      "Broker RSS: idle after start (median), and the peak (VmHWM) of a fresh broker over one load's warm-up and runs",
    columns: ['load', ...labels, 'bundled ÷ bare aedes', 'bundled ÷ Mosquitto'],
    rows: [
      [
        'idle, no clients',
        ...KINDS.map((kind) => mb(idleRss(kind))),
        ratio(idleRss('bundled'), idleRss('aedes')),
        ratio(idleRss('bundled'), idleRss('mosquitto')),
      ],
      ...LOADS.map((load) => {
        const [b, a, m] = KINDS.map((kind) => peaks.get(key(kind, load)) ?? NaN) as [number, number, number];
        return [loadName(load), mb(b), mb(a), mb(m), ratio(b, a), ratio(b, m)];
      }),
    ],
  };
  const lost = LOADS.flatMap((load) =>
    KINDS.filter((kind) => maxOf(kind, load, 'lost') > 0).map(
      (kind) =>
        `${BROKER_LABELS[kind]}, ${loadName(load)}: up to ${num(maxOf(kind, load, 'lost'))} deliveries lost`,
    ),
  );

  const idleRuns = new Map<BrokerKind, IdleResult[]>();
  for (let run = 0; run < idleRunCount; run++) {
    for (const kind of KINDS) {
      const list = idleRuns.get(kind) ?? [];
      list.push(await idleConnections(kind, idleCount));
      idleRuns.set(kind, list);
    }
  }
  ctx.log('broker: idle connections done');

  const [baseline, stuck] = ctx.quick ? [2, 2] : [3, 8];
  const slowRuns: { kind: BrokerKind; qos: 0 | 1; result: SlowResult }[] = [];
  for (const qos of [0, 1] as const) {
    for (const kind of KINDS) {
      slowRuns.push({ kind, qos, result: await slowSubscriber(kind, qos, baseline, stuck, payloadBytes) });
    }
  }
  ctx.log('broker: slow subscriber done');
  const arrow = (a: string, b: string) => `${a} → ${b}`;
  const fate = (stats: Record<string, number>) =>
    stats.closed === undefined
      ? 'not reported'
      : stats.closed > 0
        ? 'closed (queue over 4 MiB)'
        : `connected, ${num(stats.droppedQos0 ?? 0)} QoS 0 dropped`;
  const slowTable: Table = {
    title: `A subscriber that stops reading: one publisher (TCP) as fast as the other subscriber (WebSocket) is served; after ${baseline} s the slow subscriber (WebSocket) stops reading for ${stuck} s (one run)`,
    columns: [
      'broker',
      'QoS',
      'other subscriber: deliveries/s, before → while stuck',
      'p50 latency',
      'p99 latency',
      'longest gap while stuck',
      'broker RSS, each second while stuck',
      'RSS growth, second half',
      'the stuck subscriber',
    ],
    numeric: [false, true, true, true, true, true, false, true, false],
    rows: slowRuns.map(({ kind, qos, result }) => {
      const half = Math.floor(result.rss.length / 2);
      const growth = (result.rss.at(-1)! - result.rss[half]!) / 1024 / (result.rss.length - 1 - half || 1);
      return [
        BROKER_LABELS[kind],
        String(qos),
        arrow(int(result.before.rate), int(result.during.rate)),
        arrow(ms(result.before.p50), ms(result.during.p50)),
        arrow(ms(result.before.p99), ms(result.during.p99)),
        ms(result.longestGap),
        `${result.rss.map((kib) => num(kib / 1024, 0)).join(', ')} MB`,
        `${num(growth, 1)} MB/s`,
        fate(result.stats),
      ];
    }),
  };
  const idleMedian = (kind: BrokerKind, field: keyof IdleResult) =>
    median((idleRuns.get(kind) ?? []).map((r) => r[field]));
  const idleTable: Table = {
    title: `${num(idleCount)} idle MQTT-over-WebSocket connections (fresh broker each run, median of ${idleRunCount})`,
    columns: [
      'broker',
      'RSS before',
      `RSS with ${num(idleCount)}`,
      'per connection',
      'vs bundled',
      'time to open all',
    ],
    rows: KINDS.map((kind) => [
      BROKER_LABELS[kind],
      mb(idleMedian(kind, 'base')),
      mb(idleMedian(kind, 'loaded')),
      `${num(idleMedian(kind, 'perConnection'), 1)} KB`,
      ratio(idleMedian(kind, 'perConnection'), idleMedian('bundled', 'perConnection')),
      `${num(idleMedian(kind, 'openSeconds'), 2)} s`,
    ]),
  };

  return {
    name: 'broker',
    title: 'Brokers side by side',
    method: [
      `Three brokers, each in its own process on 127.0.0.1: the **bundled** broker (\`startBroker\` from broker/, memory persistence), **bare aedes** (the naive recipe: \`Aedes.createBroker()\`, \`net.createServer(aedes.handle)\`, a \`ws\` server with \`createWebSocketStream\`, all defaults) and **Mosquitto** (Debian's package, default limits, no persistence). Node brokers run as plain \`node --expose-gc bench/broker-child.js\`, so their RSS is the broker's own.`,
      `Load: MQTT.js 3.1.1 clients in the bench process. One publisher sends ${payloadBytes}-byte payloads (the size of a signed 40-character chat message) to one topic with 1 or 50 subscribers, over TCP or WebSocket, at QoS 0 or 1, ${num(deliveries)} deliveries per run. The loop is closed: at most 100 messages (1→1) or 10 messages (1→50, i.e. 500 deliveries) are in flight, so every broker gets the same load and queues stay bounded. Each payload carries its send time; latency is receive time minus send time in the same process. One uncounted warm-up run per broker comes first.`,
      `Memory per idle connection: a fresh broker, a full GC (Node brokers), RSS; then ${num(idleCount)} WebSocket connections, each one MQTT CONNECT (clean session, keepalive 0, no subscriptions) answered by CONNACK; after 1 s and another GC, RSS again. Per connection = difference ÷ ${num(idleCount)}.`,
      `A subscriber that stops reading: a fresh broker, one topic, a publisher over TCP and two subscribers over WebSocket (MQTT.js), all at QoS 0 or all at QoS 1, ${payloadBytes}-byte payloads. The publisher keeps at most 100 messages published but not yet received by the first subscriber (a closed loop on it: as fast as the broker serves it), and gives them up after 500 ms without a delivery so that a stall shows as a gap. After ${baseline} s a second subscriber (connected from the start) subscribes and its stream is paused at once: it stops reading its socket, like a frozen tab or a phone that lost its radio, so the kernel's socket buffers fill (a few MB) and then the broker's. Over the next ${stuck} s the bench reads the broker's RSS every second and records every delivery to the first subscriber; "before" counts from the second second on.`,
    ],
    tables: [throughput, efficiency, latency, memory, idleTable, slowTable],
    notes: [
      'Ratios are bundled ÷ peer: above 1× means more deliveries per second, or a longer latency.',
      "The load generator (MQTT.js in the bench process) and the broker share the machine's cores. Where the load generator's CPU nears 100 % of a core, deliveries per second are bounded by the client, not the broker; deliveries per broker CPU-second do not depend on that and compare the brokers' own work.",
      "Over TCP the bench's clients turn Nagle's algorithm off, as browsers do for WebSockets. The bundled broker does the same on its sockets; bare aedes and Mosquitto (`set_tcp_nodelay false` by default) keep it on, which can show as p99 latencies near 40 ms (Nagle waiting on a delayed ACK).",
      `While a subscriber is stuck, aedes waits for its socket to drain before it reads the publisher's next packet, so the topic stalls for everyone until \`drainTimeout\` (60 s) drops the stuck client: bare aedes shows a gap as long as the run. The bundled broker never waits for a socket (broker/slow-subscribers.js): QoS 0 to a connection with more than 256 KiB queued is dropped, and a QoS 1 delivery to one with more than 4 MiB queued closes it; so the broker holds at most that much for it and the other subscriber is served as before.`,
      ...(idleCount < idleWanted
        ? [
            `Idle connections: ${num(idleCount)} instead of ${num(idleWanted)}, because \`ulimit -n\` is ${num(fileLimit)} here (raise it, e.g. \`ulimit -n 20000\`, before \`npm run bench\`).`,
          ]
        : []),
      ...(lost.length > 0
        ? [`Lost at QoS 0 (a run ends after 5 s without progress): ${lost.join('; ')}.`]
        : []),
    ],
  };
};
