// Issue acceptance, "Nothing lost, nothing forged, nothing crashes": pre-CONNECT garbage, oversize packets,
// 150-level topics and half-open connections against the bundled broker. It stays up, keeps serving, and
// its memory stays bounded: a second identical round must not grow the heap like the first did.
// Every loop is bounded and every wait is on a condition (a socket closing, a message arriving).

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { loginMessage } from '../../broker/auth.js';
import { startBroker, type RunningBroker } from '../../broker/index.js';
import { utf8 } from '../../src/protocol/bytes.ts';
import { generateIdentity, signBytes } from '../../src/protocol/keys.ts';
import { makeMessage } from '../../src/protocol/messages.ts';
import { topics } from '../../src/protocol/topics.ts';
import { until } from '../helpers/fixtures.ts';
import {
  closeClients,
  connectClient,
  MessageLog,
  RawMqttClient,
  uniqueClientId,
} from '../helpers/mqtt-client.js';

const MAX_PACKET = 64 * 1024;
/**
 * Short, so garbage and half-open connections are reaped within the test (the default is 10 s), and long
 * enough that a genuine CONNECT is handled in time on a loaded two-core machine.
 */
const CONNECT_TIMEOUT = 1_000;
const MB = 1024 * 1024;
/**
 * How long a hostile socket may stay open. The broker closes most at once and the rest at the connect
 * timeout; the margin is for a CI machine busy with other work (event-loop lag, not broker behaviour).
 */
const CLOSE_WITHIN = CONNECT_TIMEOUT + 15_000;

const ROUND = { garbage: 500, oversize: 200, deepTopics: 200, halfOpen: 200 };
/**
 * Sockets open at once per phase. Garbage and half-open sockets cost the broker nothing until the
 * connect timeout, so they all go at once; the phases that log in are batched so genuine CONNECTs
 * are answered well within the connect timeout.
 */
const BATCH = { garbage: ROUND.garbage, oversize: 100, deepTopics: 50 };

/**
 * A full collection before measuring, when the flag can still be set at run time (it can in Node 20);
 * otherwise heap figures include garbage not yet collected and the bound below is looser than it looks.
 */
const gc = ((): (() => void) | undefined => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Deterministic bytes (mulberry32), so every run sends the same garbage. */
function prng(seed: number): (length: number) => Buffer {
  let state = seed >>> 0;
  return (length) => {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) {
      state = (state + 0x6d2b79f5) >>> 0;
      let x = state;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      out[i] = ((x ^ (x >>> 14)) >>> 0) & 0xff;
    }
    return out;
  };
}

/** Runs `count` jobs, `batch` at a time. */
async function inBatches(count: number, batch: number, job: (index: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const size = Math.min(batch, count - start);
    await Promise.all(Array.from({ length: size }, (_, i) => job(start + i)));
  }
}

interface Mode {
  name: string;
  auth: boolean;
}

const modes: Mode[] = [
  { name: 'open mode', auth: false },
  { name: 'authenticated mode', auth: true },
];

const running: RunningBroker[] = [];
afterEach(async () => {
  for (const broker of running.splice(0)) await broker.close();
});

describe.each(modes)('the bundled broker under hostile input, $name', ({ auth }) => {
  let hostileUser: Awaited<ReturnType<typeof generateIdentity>> | undefined;

  async function start(): Promise<RunningBroker> {
    const broker = await startBroker({
      port: 0,
      wsPort: 0,
      memory: true,
      logger: 'quiet',
      retention: false,
      maxPacketSize: MAX_PACKET,
      connectTimeout: CONNECT_TIMEOUT,
      auth,
      // Every hostile socket comes from 127.0.0.1; the per-IP limit is tested in broker-auth.test.ts.
      maxConnectionsPerIp: 0,
    });
    running.push(broker);
    return broker;
  }

  /** CONNECT that the broker accepts in either mode. */
  async function connected(broker: RunningBroker): Promise<RawMqttClient> {
    const clientId = uniqueClientId('hostile');
    const identity = auth ? (hostileUser ??= await generateIdentity()) : undefined;
    const ts = Date.now();
    const credentials = identity && {
      username: identity.userId,
      password: Buffer.from(`${ts}.${await signBytes(identity, utf8(loginMessage(clientId, ts)))}`),
    };
    const { raw, connack } = await RawMqttClient.connect(broker.ports.mqtt, { clientId, ...credentials });
    expect((connack as { returnCode: number }).returnCode).toBe(0);
    return raw;
  }

  async function round(broker: RunningBroker, seed: number): Promise<void> {
    const garbage = prng(seed);
    // Pre-CONNECT garbage: random bytes, then nothing. Parser errors close at once, anything that looks
    // like the start of a packet is closed by the packet guard or the connect timeout.
    await inBatches(ROUND.garbage, BATCH.garbage, async (i) => {
      const raw = await RawMqttClient.open(broker.ports.mqtt);
      raw.sendBytes(garbage(16 + (i % 112)));
      await raw.waitForClose(CLOSE_WITHIN);
    });
    // Oversize: a PUBLISH announcing 256 MiB, half before CONNECT, half after.
    const hugeHeader = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]);
    await inBatches(ROUND.oversize, BATCH.oversize, async (i) => {
      const raw = i % 2 === 0 ? await RawMqttClient.open(broker.ports.mqtt) : await connected(broker);
      raw.sendBytes(Buffer.concat([hugeHeader, garbage(1024)]));
      await raw.waitForClose(CLOSE_WITHIN);
    });
    // 150-level topics, past maxTopicLevels (16): closed before anything is routed or stored.
    const deep = Array.from({ length: 150 }, (_, i) => `l${i}`).join('/');
    await inBatches(ROUND.deepTopics, BATCH.deepTopics, async (i) => {
      const raw = await connected(broker);
      raw.send({
        cmd: 'publish',
        topic: deep,
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 1 + i,
        retain: i % 2 === 0,
        dup: false,
      });
      await raw.waitForClose(CLOSE_WITHIN);
    });
    // Half-open: a CONNECT fixed header whose length promises more bytes, then silence. All 200 stay
    // open together while a normal client works; the connect timeout reaps them.
    const stalled = await Promise.all(
      Array.from({ length: ROUND.halfOpen }, async () => {
        const raw = await RawMqttClient.open(broker.ports.mqtt);
        raw.sendBytes(Buffer.from([0x10, 0xc8]));
        return raw;
      }),
    );
    await expectServes(broker);
    await Promise.all(stalled.map((raw) => raw.waitForClose(CLOSE_WITHIN)));
  }

  /** A fresh publisher and subscriber round-trip one message (signed, in authenticated mode). */
  async function expectServes(broker: RunningBroker): Promise<void> {
    const t = topics();
    const identity = await generateIdentity();
    const login = async () => {
      const clientId = uniqueClientId('alive');
      if (!auth) return { clientId };
      const ts = Date.now();
      const sig = await signBytes(identity, utf8(loginMessage(clientId, ts)));
      return { clientId, username: identity.userId, password: `${ts}.${sig}` };
    };
    const subscriber = await connectClient(broker.urls.mqtt, await login());
    const publisher = await connectClient(`${broker.urls.ws}/mqtt`, await login());
    try {
      const log = new MessageLog(subscriber);
      const id = crypto.randomUUID().replaceAll('-', '');
      const message = await makeMessage(t, identity, {
        room: 'lobby',
        page: 0,
        id,
        name: 'Alive',
        ts: Date.now(),
        text: 'still here',
      });
      await subscriber.subscribeAsync(message.topic, { qos: 1 });
      await publisher.publishAsync(message.topic, Buffer.from(message.payload), { qos: 1, retain: true });
      expect((await log.waitForTopic(message.topic)).payload.equals(Buffer.from(message.payload))).toBe(true);
    } finally {
      await closeClients([subscriber, publisher]);
    }
  }

  it('stays up, keeps serving, and does not grow its heap with a second identical round', async () => {
    const broker = await start();
    const errors: string[] = [];
    broker.aedes.on('clientError', (_client, error) => errors.push(error.message));
    broker.aedes.on('connectionError', (_client, error) => errors.push(error.message));

    const started = Date.now();
    const baseline = heapUsed();
    await round(broker, 1);
    const afterFirst = heapUsed();
    const firstMs = Date.now() - started;
    await round(broker, 1);
    const afterSecond = heapUsed();
    const totalMs = Date.now() - started;
    await expectServes(broker);

    const sockets = ROUND.garbage + ROUND.oversize + ROUND.deepTopics + ROUND.halfOpen;
    const mb = (bytes: number) => (bytes / MB).toFixed(1);
    console.log(
      `${auth ? 'auth' : 'open'} mode: ${sockets} hostile connections per round; heap ${mb(baseline)} MB → ` +
        `${mb(afterFirst)} MB after round 1 (${firstMs} ms) → ${mb(afterSecond)} MB after round 2 ` +
        `(${totalMs - firstMs} ms); second round grew ${mb(afterSecond - afterFirst)} MB; ` +
        `forced GC ${gc ? 'yes' : 'no'}; ${errors.length} client errors logged`,
    );
    expect(afterSecond - afterFirst).toBeLessThan(20 * MB);
    // Nothing lingers: every hostile client and both probes are gone from aedes' client table.
    await until(() => broker.aedes.connectedClients === 0, 'no clients left', 10_000);
    expect(errors.some((message) => /too many levels/.test(message))).toBe(true);
    // Wall time is printed, not asserted: two rounds took 7 to 11 s per mode on a two-core machine running
    // other tests, and several times that under heavy load. The loops are bounded; the test timeout is the
    // hard bound.
  }, 90_000);
});
