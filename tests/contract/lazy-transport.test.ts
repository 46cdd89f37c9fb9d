import { lazyTransportFactory } from '../../src/transport/lazy-transport.ts';
import { MemoryBroker, MemoryTransport } from '../../src/transport/memory-transport.ts';
import type { TransportOptions } from '../../src/transport/transport.ts';
import { transportSuite } from './transport-suite.ts';

const broker = new MemoryBroker();

// The wrapper main.ts puts around mqtt-transport.ts, here around the memory twin: it must keep the
// contract while its code is still loading (every call below is made before the load resolves).
const lazy = lazyTransportFactory(async () => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return (options: TransportOptions) => new MemoryTransport({ broker, reconnectMs: 20, ...options });
});

transportSuite('lazy wrapper over the memory twin', () => ({
  make: (options) => lazy({ url: 'memory://', ...options }),
  cut: async (clientId) => broker.cut(clientId),
}));
