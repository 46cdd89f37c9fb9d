import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/transport/memory-transport.ts';
import { makeClient, timeline, until } from '../helpers/fixtures.ts';

describe('ChatClient over the memory transport', () => {
  it('delivers a message from one client to another in the same room', async () => {
    const broker = new MemoryBroker();
    const alice = await makeClient(broker, 'Alice');
    const bob = await makeClient(broker, 'Bob');
    const seen = timeline(bob, 'lobby');
    alice.start();
    bob.start();
    await alice.join('lobby');
    await bob.join('lobby');
    const sent = await alice.send('lobby', 'hello bob');
    expect(typeof sent).toBe('object');
    await until(() => seen.size === 1, 'bob to receive');
    const [message] = [...seen.values()];
    expect(message?.text).toBe('hello bob');
    expect(message?.from).toBe(alice.identity.userId);
  });
});
