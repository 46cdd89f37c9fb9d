import { MemoryBroker, MemoryTransport } from '../../src/transport/memory-transport.ts';
import { transportSuite } from './transport-suite.ts';

const broker = new MemoryBroker();

transportSuite('memory twin', () => ({
  make: (options) => new MemoryTransport({ url: 'memory://', broker, reconnectMs: 20, ...options }),
  cut: async (clientId) => broker.cut(clientId),
}));
