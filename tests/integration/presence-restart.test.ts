import { afterEach, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../src/core/chat-client.ts';
import type { PresenceChange } from '../../src/core/presence.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { until } from '../helpers/fixtures.ts';
import { joinedReal } from '../helpers/real.ts';

// Presence across a broker crash (PROTOCOL.md PRES-1, PRES-3; broker/wills.js). The bundled broker (a
// child process, level persistence, its default will grace) is SIGKILLed and started again on the
// same ports and directory. Every client takes a new conn for its new connection, so the wills the
// dead process stored all name connections nobody holds any more: the restarted broker publishes them
// after a grace of seconds, not the 30 s backoff it used to wait, and they remove only the members who
// did not come back.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

const listed = (client: ChatClient, room: string, other: ChatClient) =>
  client.members(room).some((member) => member.user === other.identity.userId);

describe('presence after a broker restart (PRES-3)', () => {
  it('drops a departed member within seconds, and never the member who came back', async () => {
    const broker = await spawnBroker();
    cleanup.push(() => broker.close());
    const room = 'restart';
    const party = async (name: string) => {
      const { client } = await joinedReal(broker.urls.ws, name, room);
      cleanup.push(() => client.close());
      return client;
    };
    const [alice, bob, carol] = [await party('Alice'), await party('Bob'), await party('Carol')];
    await until(
      () => listed(alice, room, bob) && listed(alice, room, carol),
      'alice lists bob and carol',
      10_000,
    );
    const changes: PresenceChange[] = [];
    alice.on('presence', (_room, _list, change) => changes.push(...change));
    const bobsFirst = bob.conn;

    await broker.kill();
    // Carol's tab closes while the broker is down: no DISCONNECT reaches it, her will stays stored.
    await carol.transport.close();
    await broker.restart();
    const restarted = Date.now();
    // What the page does on `online` and `visibilitychange`; the backoff timer would do it later.
    for (const client of [alice, bob]) client.transport.wake?.();
    await until(
      () => alice.transport.status === 'online' && bob.transport.status === 'online',
      'alice and bob online again',
      20_000,
    );
    expect(bob.conn).not.toBe(bobsFirst);

    await until(() => !listed(alice, room, carol), 'carol dropped by her leftover will', 20_000);
    const settled = Date.now() - restarted;
    console.log(`FIGURE: presence right again ${settled} ms after the broker restarted (will grace 5 s)`);
    // Well inside the 30 s the broker used to wait.
    expect(settled).toBeLessThan(20_000);
    expect(listed(alice, room, bob)).toBe(true);
    expect(alice.members(room).find((m) => m.user === bob.identity.userId)?.conn).toBe(bob.conn);

    // Someone joining now gets every retained will and beat: Alice and Bob, not Carol.
    const dave = await party('Dave');
    const names = (client: ChatClient) => client.members(room).map((m) => m.name);
    await until(() => names(dave).join() === 'Alice,Bob,Dave', 'dave lists alice and bob, not carol', 10_000);
    // Bob's old will was published with Carol's, but named his first connection: he never left.
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual(['leave Carol', 'join Dave']);
  });
});
