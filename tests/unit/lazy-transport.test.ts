import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/protocol/bytes.ts';
import { lazyTransportFactory } from '../../src/transport/lazy-transport.ts';
import { MemoryBroker, MemoryTransport } from '../../src/transport/memory-transport.ts';
import type { StatusChange, TransportFactory, TransportOptions } from '../../src/transport/transport.ts';
import { until } from '../helpers/fixtures.ts';

/** A load that the test resolves or fails by hand, counting how often it was asked for. */
const manualLoad = (broker: MemoryBroker) => {
  const factory: TransportFactory = (options: TransportOptions) =>
    new MemoryTransport({ broker, reconnectMs: 20, ...options });
  const pending: { resolve: (f: TransportFactory) => void; reject: (e: Error) => void }[] = [];
  return {
    calls: () => pending.length,
    load: () => new Promise<TransportFactory>((resolve, reject) => pending.push({ resolve, reject })),
    succeed: () => pending.at(-1)!.resolve(factory),
    fail: () => pending.at(-1)!.reject(new Error('Failed to fetch dynamically imported module')),
  };
};

const options = { url: 'memory://', clientId: 'lazy-1' };

describe('lazy transport factory', () => {
  it('loads once for every transport, whether preloaded or asked for by a connect', async () => {
    const loader = manualLoad(new MemoryBroker());
    const lazy = lazyTransportFactory(loader.load);
    const preloaded = lazy.preload();
    lazy(options).connect();
    lazy({ ...options, clientId: 'lazy-2' }).connect();
    expect(loader.calls()).toBe(1);
    loader.succeed();
    await preloaded;
    expect(loader.calls()).toBe(1);
  });

  it('is connecting while its code loads, then reports what the real transport reports', async () => {
    const broker = new MemoryBroker();
    const loader = manualLoad(broker);
    const transport = lazyTransportFactory(loader.load)(options);
    const changes: StatusChange[] = [];
    transport.on('status', (change) => changes.push(change));
    expect(transport.status).toBe('offline');
    transport.connect();
    expect(transport.status).toBe('connecting');
    loader.succeed();
    await until(() => transport.status === 'online', 'online');
    expect(changes[0]?.status).toBe('connecting');
    expect(changes.at(-1)?.status).toBe('online');
    await transport.close();
  });

  it('replays subscriptions and publishes made before the code arrived, in order', async () => {
    const broker = new MemoryBroker();
    const loader = manualLoad(broker);
    const transport = lazyTransportFactory(loader.load)(options);
    const received: string[] = [];
    transport.on('message', (message) => received.push(message.topic));
    transport.connect();
    const subscribed = transport.subscribe(['lazy/#']);
    const published = transport.publish('lazy/a', utf8('a'), { qos: 1, retain: false });
    loader.succeed();
    await Promise.all([subscribed, published]);
    await until(() => received.length === 1, 'own message back');
    expect(received).toEqual(['lazy/a']);
    await transport.close();
  });

  it('reports offline, unreachable when the code cannot be loaded, and tries again on wake', async () => {
    const broker = new MemoryBroker();
    const loader = manualLoad(broker);
    const transport = lazyTransportFactory(loader.load)(options);
    const changes: StatusChange[] = [];
    transport.on('status', (change) => changes.push(change));
    transport.connect();
    const published = transport.publish('lazy/b', utf8('b'), { qos: 1, retain: true });
    loader.fail();
    await until(() => transport.status === 'offline', 'offline');
    expect(changes.at(-1)).toMatchObject({ status: 'offline', error: 'unreachable' });
    expect(changes.at(-1)?.detail).toContain('could not load the MQTT client');

    transport.wake?.();
    expect(loader.calls()).toBe(2);
    loader.succeed();
    await published;
    expect(transport.status).toBe('online');
    expect(broker.retained.has('lazy/b')).toBe(true);
    await transport.close();
  });

  it('closed before its code arrived: publishes are refused, and no connection is made', async () => {
    const broker = new MemoryBroker();
    const loader = manualLoad(broker);
    const lazy = lazyTransportFactory(loader.load);
    const transport = lazy(options);
    transport.connect();
    const published = transport.publish('lazy/c', utf8('c'), { qos: 1, retain: false });
    await transport.close();
    await expect(published).rejects.toThrow('transport closed');
    expect(transport.status).toBe('offline');
    loader.succeed();
    // The same load: by the time it resolves here, the transport has seen it too.
    await lazy.preload();
    expect(loader.calls()).toBe(1);
    expect(broker.clientIds).toEqual([]);
    expect(transport.status).toBe('offline');
  });
});
