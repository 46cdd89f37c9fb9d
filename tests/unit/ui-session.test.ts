// The web app's session state (src/state) fed by real chat clients over the in-memory broker:
// unread counts, join notices, replies, DMs that wait for a key, and notifications.
import { afterEach, describe, expect, it } from 'vitest';
import { dmRoom } from '../../src/core/chat-client.ts';
import type { Notifier } from '../../src/lib/notify.ts';
import { generateDhKeyPair } from '../../src/protocol/dh.ts';
import { ChatSession, type Saved } from '../../src/state/session.svelte.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import { MemoryBroker } from '../../src/transport/memory-transport.ts';
import { makeClient, until } from '../helpers/fixtures.ts';

const fresh: Saved = { rooms: [], dmPeers: [], classic: [], readMarks: {}, notifications: false };

const notifier = (permission: NotificationPermission = 'granted') => {
  const shown: { title: string; body: string; tag: string }[] = [];
  const fake: Notifier = {
    permission: () => permission,
    request: async () => permission,
    show: (title, body, tag) => void shown.push({ title, body, tag }),
  };
  return { fake, shown };
};

const sessions: ChatSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close()));
});

const person = async (broker: MemoryBroker, name: string, saved: Partial<Saved> = {}, dm = false) => {
  const store = new MemoryStore();
  const dh = dm ? await generateDhKeyPair() : undefined;
  const client = await makeClient(broker, name, { store, ...(dh && { dh }) });
  const { fake, shown } = notifier();
  const session = new ChatSession({
    client,
    url: 'memory://broker',
    store,
    notifier: fake,
    saved: { ...fresh, ...saved },
    dmEnabled: dm,
  });
  sessions.push(session);
  session.start();
  await until(() => session.status === 'online', `${name} online`);
  return { session, client, store, shown };
};

const texts = (session: ChatSession, id: string) =>
  session.conversations.get(id)?.timeline.messages.map((message) => message.text) ?? [];

describe('a chat session', () => {
  it('counts unread messages in rooms not shown, and in the shown one while the tab is hidden', async () => {
    const broker = new MemoryBroker();
    const alice = await person(broker, 'Alice');
    const bob = await person(broker, 'Bob');
    await alice.session.openRooms(['news'], 'lobby');
    await bob.session.openRooms(['news'], 'lobby');
    expect(alice.session.roomIds).toEqual(['news', 'lobby']);
    expect(alice.session.current).toBe('lobby');

    await bob.client.send('news', 'one');
    await bob.client.send('news', 'two');
    await until(() => texts(alice.session, 'news').length === 2, 'news arrives');
    expect(alice.session.conversations.get('news')?.unread).toBe(2);
    expect(alice.session.totalUnread).toBe(2);

    alice.session.show('news');
    expect(alice.session.totalUnread).toBe(0);

    alice.session.setVisible(false);
    await bob.client.send('news', 'three');
    await until(() => texts(alice.session, 'news').length === 3, 'three arrives');
    expect(alice.session.totalUnread).toBe(1);
    alice.session.setVisible(true);
    expect(alice.session.totalUnread).toBe(0);

    // My own messages and edits never count.
    await alice.session.send('mine');
    const [first] = bob.session.conversations.get('news')?.timeline.messages ?? [];
    if (first) await bob.client.edit(first.id, 'one, edited');
    await until(() => texts(alice.session, 'news').includes('one, edited'), 'edit arrives');
    alice.session.show('lobby');
    await bob.client.edit(first?.id ?? '', 'one, edited twice');
    await until(() => texts(alice.session, 'news').includes('one, edited twice'), 'second edit');
    expect(alice.session.totalUnread).toBe(0);
  });

  it('notes who joins and leaves after me, and not who was there before or myself', async () => {
    const broker = new MemoryBroker();
    const carol = await person(broker, 'Carol');
    await carol.session.open('lobby');
    const alice = await person(broker, 'Alice');
    await alice.session.open('lobby');
    const bob = await person(broker, 'Bob');
    await bob.session.open('lobby');
    const lobby = alice.session.conversations.get('lobby');
    await until(() => (lobby?.notices.length ?? 0) === 1, 'join notice');
    expect(lobby?.notices[0]).toMatchObject({ kind: 'join', name: 'Bob', user: bob.client.identity.userId });
    expect(lobby?.members.map((member) => member.name)).toEqual(['Alice', 'Bob', 'Carol']);
    await bob.session.leave('lobby');
    await until(() => (lobby?.notices.length ?? 0) === 2, 'leave notice');
    expect(lobby?.notices[1]).toMatchObject({ kind: 'leave', name: 'Bob' });
    expect(bob.session.roomIds).toEqual([]);
  });

  it('sends replies to the message chosen, with shortcodes turned into emoji', async () => {
    const broker = new MemoryBroker();
    const alice = await person(broker, 'Alice');
    await alice.session.open('lobby');
    await alice.session.send('first');
    const lobby = alice.session.conversations.get('lobby');
    const [first] = lobby?.timeline.messages ?? [];
    if (lobby === undefined || first === undefined) throw new Error('no message');
    lobby.replyTo = first.id;
    expect(await alice.session.send('yes :+1:')).toBeUndefined();
    expect(lobby.replyTo).toBeUndefined();
    expect(lobby.timeline.messages.at(-1)).toMatchObject({ text: 'yes 👍', reply: first.id });
    expect(lobby.quote(first.id)?.text).toBe('first');
  });

  it('keeps DMs waiting for the peer’s key and sends them once it arrives; the peer gets a conversation', async () => {
    const broker = new MemoryBroker();
    const alice = await person(broker, 'Alice', {}, true);
    const bob = await person(broker, 'Bob', {}, true);
    const bobId = bob.client.identity.userId;
    const aliceId = alice.client.identity.userId;
    alice.session.openDm(bobId);
    expect(alice.session.current).toBe(dmRoom(bobId));
    expect(alice.session.dmPeers).toEqual([bobId]);
    // Sent before Bob's retained key can have arrived: it waits in order.
    await alice.session.send('one');
    await alice.session.send('two');
    await until(() => texts(bob.session, dmRoom(aliceId)).length === 2, 'DMs delivered');
    expect(texts(bob.session, dmRoom(aliceId))).toEqual(['one', 'two']);
    expect(alice.session.conversations.get(dmRoom(bobId))?.queued).toEqual([]);
    expect(bob.session.dmPeers).toEqual([aliceId]);
    expect(bob.session.conversations.get(dmRoom(aliceId))?.unread).toBe(2);
    expect(bob.session.nameOf(aliceId)).toBe('Alice');

    // Bob replies at once: opening the conversation fetched Alice's key.
    bob.session.show(dmRoom(aliceId));
    await until(() => bob.session.keys.has(aliceId), 'Alice key');
    await bob.session.send('three');
    await until(() => texts(alice.session, dmRoom(bobId)).length === 3, 'reply delivered');
  });

  it('notifies of DMs and mentions while hidden, when turned on', async () => {
    const broker = new MemoryBroker();
    const alice = await person(broker, 'Alice', {}, true);
    const bob = await person(broker, 'Bob', {}, true);
    await alice.session.open('lobby');
    await bob.session.open('lobby');
    await alice.session.setNotifications(true);
    alice.session.setVisible(false);
    await bob.session.send('hello all');
    await bob.session.send('hey @alice, look');
    bob.session.openDm(alice.client.identity.userId);
    await until(() => bob.session.keys.has(alice.client.identity.userId), 'key');
    await bob.session.send('psst');
    await until(() => alice.shown.length === 2, 'two notifications');
    expect(alice.shown.map((shown) => [shown.title, shown.body])).toEqual([
      ['Bob mentioned you in #lobby', 'hey @alice, look'],
      ['Bob (direct message)', 'psst'],
    ]);
  });
});
