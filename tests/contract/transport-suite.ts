/**
 * One transport suite, run against every transport (MQTT.js' abstract_client.ts habit):
 * tests/contract/transport.test.ts runs it on the memory twin, tests/integration/transport-mqtt.test.ts
 * on MQTT.js + the bundled aedes broker over WebSocket.
 *
 * Glossary: a "harness" makes transports to one broker and can cut a client's connection the way a
 * network failure would (no DISCONNECT packet, so the broker publishes the will).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../src/protocol/bytes.ts';
import type { IncomingMessage, Session, Transport, TransportOptions } from '../../src/transport/transport.ts';
import { until } from '../helpers/fixtures.ts';

export interface TransportHarness {
  make(options: Partial<TransportOptions> & { clientId: string }): Transport;
  cut(clientId: string): Promise<void>;
}

const online = (transport: Transport) => until(() => transport.status === 'online', 'online', 10_000);

const inbox = (transport: Transport) => {
  const messages: IncomingMessage[] = [];
  transport.on('message', (message) => messages.push(message));
  return messages;
};

const texts = (messages: IncomingMessage[]) => messages.map((m) => fromUtf8(m.payload));

export const transportSuite = (name: string, harness: () => TransportHarness) => {
  describe(`transport contract: ${name}`, () => {
    const open: Transport[] = [];
    let n = 0;
    const make = (options: Partial<TransportOptions> = {}) => {
      const transport = harness().make({ clientId: `contract-${Date.now()}-${n++}`, ...options });
      open.push(transport);
      transport.connect();
      return transport;
    };
    const unique = () => `contract/${Date.now()}-${Math.random().toString(16).slice(2)}`;

    afterEach(async () => {
      await Promise.all(open.splice(0).map((transport) => transport.close()));
    });

    it('connects and reports online', async () => {
      const transport = make();
      await online(transport);
    });

    it('delivers live messages to + and # subscriptions, not retained-flagged', async () => {
      const base = unique();
      const [a, b] = [make(), make()];
      await Promise.all([online(a), online(b)]);
      const got = inbox(b);
      await b.subscribe([`${base}/+/x`, `${base}/#`]);
      await a.publish(`${base}/1/x`, utf8('one'), { qos: 1, retain: false });
      await until(() => got.length >= 1, 'delivery');
      expect(texts(got)).toContain('one');
      expect(got.every((m) => !m.retain)).toBe(true);
    });

    it('delivers retained messages to new subscribers, flagged retain', async () => {
      const base = unique();
      const a = make();
      await online(a);
      await a.publish(`${base}/r`, utf8('kept'), { qos: 1, retain: true });
      const b = make();
      await online(b);
      const got = inbox(b);
      await b.subscribe([`${base}/+`]);
      await until(() => got.length === 1, 'retained');
      expect(got[0]?.retain).toBe(true);
      expect(texts(got)).toEqual(['kept']);
    });

    it('clears a retained topic with a zero-length retained publish', async () => {
      const base = unique();
      const a = make();
      await online(a);
      await a.publish(`${base}/r`, utf8('kept'), { qos: 1, retain: true });
      await a.publish(`${base}/r`, new Uint8Array(0), { qos: 1, retain: true });
      await a.publish(`${base}/s`, utf8('marker'), { qos: 1, retain: true });
      const b = make();
      await online(b);
      const got = inbox(b);
      await b.subscribe([`${base}/+`]);
      await until(() => got.length >= 1, 'marker');
      expect(texts(got)).toEqual(['marker']);
    });

    it('publishes the will when a connection is cut, not on a graceful close', async () => {
      const base = unique();
      const watcher = make();
      await online(watcher);
      const got = inbox(watcher);
      await watcher.subscribe([`${base}/will/+`]);
      const will = (id: string) => ({
        topic: `${base}/will/${id}`,
        payload: utf8(id),
        qos: 1 as const,
        retain: false,
      });
      const graceful = make({ clientId: `${base.replace(/\W/g, '')}g`, will: will('graceful') });
      const cut = make({ clientId: `${base.replace(/\W/g, '')}c`, will: will('cut') });
      await Promise.all([online(graceful), online(cut)]);
      await graceful.close();
      await harness().cut(`${base.replace(/\W/g, '')}c`);
      await until(() => got.length >= 1, 'will');
      expect(texts(got)).toEqual(['cut']);
    });

    it('makes a new session (client id, will) for every connect when asked to', async () => {
      const base = unique();
      const watcher = make();
      await online(watcher);
      const got = inbox(watcher);
      await watcher.subscribe([`${base}/will/+`]);
      const ids: string[] = [];
      const session = async (): Promise<Session> => {
        const n = ids.length;
        ids.push(`${base.replace(/\W/g, '')}s${n}`);
        return {
          clientId: ids[n]!,
          will: { topic: `${base}/will/${n}`, payload: utf8(String(n)), qos: 1, retain: false },
        };
      };
      const transport = make({ session });
      await online(transport);
      const first = ids.length - 1;
      await harness().cut(ids[first]!);
      await until(() => got.length === 1, 'first will');
      await until(() => transport.status === 'online' && ids.length > first + 1, 'reconnected', 10_000);
      const second = ids.length - 1;
      await harness().cut(ids[second]!);
      await until(() => got.length === 2, 'second will');
      expect(texts(got)).toEqual([String(first), String(second)]);
    });

    it('keeps subscriptions across a reconnect and receives what was retained meanwhile', async () => {
      const base = unique();
      const clientId = `${base.replace(/\W/g, '')}r`;
      const b = make({ clientId });
      await online(b);
      const got = inbox(b);
      await b.subscribe([`${base}/+`]);
      await harness().cut(clientId);
      await until(() => b.status !== 'online', 'drop');
      const a = make();
      await online(a);
      await a.publish(`${base}/while-away`, utf8('missed'), { qos: 1, retain: true });
      await online(b);
      await until(() => texts(got).includes('missed'), 'redelivery after reconnect', 15_000);
    });

    it('unsubscribes', async () => {
      const base = unique();
      const [a, b] = [make(), make()];
      await Promise.all([online(a), online(b)]);
      const got = inbox(b);
      await b.subscribe([`${base}/a`, `${base}/b`]);
      await b.unsubscribe([`${base}/a`]);
      await a.publish(`${base}/a`, utf8('a'), { qos: 1, retain: false });
      await a.publish(`${base}/b`, utf8('b'), { qos: 1, retain: false });
      await until(() => got.length >= 1, 'b');
      expect(texts(got)).toEqual(['b']);
    });
  });
};
