import { ChatClient, type ChatClientOptions } from '../../src/core/chat-client.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import type { StoredMessage } from '../../src/storage/store.ts';
import { MemoryBroker, memoryTransportFactory } from '../../src/transport/memory-transport.ts';

/** A chat client over the in-memory broker and store, with partial overrides (nostr-tools style). */
export const makeClient = async (
  broker: MemoryBroker,
  name: string,
  overrides: Partial<ChatClientOptions> = {},
): Promise<ChatClient> =>
  new ChatClient({
    transport: memoryTransportFactory(broker),
    url: 'memory://broker',
    store: new MemoryStore(),
    identity: await generateIdentity(),
    name,
    headWaitMs: 5,
    ...overrides,
  });

/** Collects a room's timeline from `messages` events, the way the state layer does. */
export const timeline = (client: ChatClient, room: string) => {
  const byId = new Map<string, StoredMessage>();
  client.on('messages', (r, messages) => {
    if (r === room) for (const message of messages) byId.set(message.id, message);
  });
  return byId;
};

/** Polls `condition` until it holds; fails with `what` after `timeout` ms. Never a fixed sleep. */
export const until = async (
  condition: () => boolean | Promise<boolean>,
  what = 'condition',
  timeout = 5000,
): Promise<void> => {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};
