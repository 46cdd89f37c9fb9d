import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../broker/index.js';
import type { StatusChange } from '../../src/transport/transport.ts';
import { until } from '../helpers/fixtures.ts';
import { joinedReal, realClient } from '../helpers/real.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

describe('the web client on the bundled broker in authenticated mode (AUTH-1..AUTH-6)', () => {
  it('signs in with a fresh key-bound password on every connect and chats', async () => {
    const broker = await startBroker({ port: 0, wsPort: 0, memory: true, auth: true, logger: 'quiet' });
    cleanup.push(() => broker.close());
    const alice = await joinedReal(broker.urls.ws, 'Alice', 'lobby', { login: true });
    cleanup.push(() => alice.client.close());
    const bob = await joinedReal(broker.urls.ws, 'Bob', 'lobby', { login: true });
    cleanup.push(() => bob.client.close());
    const sent = await alice.client.send('lobby', 'signed in');
    if (typeof sent === 'string') throw new Error(sent);
    await until(() => bob.seen.get(sent.id)?.text === 'signed in', 'bob receives');
    await until(() => alice.seen.get(sent.id)?.state === 'sent', 'acknowledged');
  });

  it('shows an auth error, not a reconnect loop, without a login', async () => {
    const broker = await startBroker({ port: 0, wsPort: 0, memory: true, auth: true, logger: 'quiet' });
    cleanup.push(() => broker.close());
    const anonymous = await realClient(broker.urls.ws, 'Anon');
    cleanup.push(() => anonymous.close());
    const changes: StatusChange[] = [];
    anonymous.on('status', (change) => changes.push(change));
    await anonymous.start();
    await until(() => changes.some((c) => c.error === 'auth'), 'auth error', 10_000);
    expect(anonymous.transport.status).toBe('offline');
  });
});
