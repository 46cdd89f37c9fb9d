import {
  encodeEnvelope,
  signEnvelope,
  type DeleteEnvelope,
  type Envelope,
  type HereEnvelope,
  type MessageEnvelope,
  type PageEnvelope,
  type ReactEnvelope,
  type RoomEnvelope,
  type StatusEnvelope,
  type SyncEnvelope,
  type TypingEnvelope,
  type Unsigned,
} from './envelope.ts';
import type { Identity } from './keys.ts';
import type { Topics } from './topics.ts';

/** What a publisher sends: a topic, its payload and the MQTT flags the protocol prescribes. */
export interface Outgoing<E> {
  topic: string;
  payload: Uint8Array;
  envelope: E;
  qos: 0 | 1;
  retain: boolean;
  /** MQTT 5 message expiry in seconds, where the protocol sets one (rules HIST-8, PRES-4). */
  expiry?: number;
}

/** Room history and reactions expire after 30 days on MQTT 5 brokers (rule HIST-8). */
export const HISTORY_EXPIRY_S = 30 * 24 * 3600;

const history = { qos: 1, retain: true, expiry: HISTORY_EXPIRY_S } as const;

type Fields<E extends Envelope> = Omit<Unsigned<E>, 'v' | 'from'>;

/** Signs `fields` as `identity` for `topic` (rule SIG-1) and encodes it canonically (rule SIG-2). */
export const build = async <E extends Envelope>(
  identity: Identity,
  topic: string,
  fields: Fields<E>,
  flags: { qos: 0 | 1; retain: boolean; expiry?: number } = { qos: 1, retain: true },
): Promise<Outgoing<E>> => {
  const unsigned = { v: 1, from: identity.userId, ...fields } as unknown as Unsigned<E>;
  const envelope = await signEnvelope<E>(identity, topic, unsigned);
  return { topic, envelope, payload: encodeEnvelope(envelope), ...flags };
};

export interface MessageDraft {
  room: string;
  page: number;
  id: string;
  name: string;
  ts: number;
  text: string;
  reply?: string;
  edited?: number;
  seq?: number;
}

/** A signed room message (rules MSG-1..MSG-4): retained, QoS 1, one topic per message. */
export const makeMessage = (topics: Topics, identity: Identity, draft: MessageDraft) => {
  const { room, page, ...fields } = draft;
  return build<MessageEnvelope>(
    identity,
    topics.message(room, page, draft.id),
    { t: 'msg', ...fields },
    history,
  );
};

/** A tombstone on the message's own topic (rule EDIT-2). */
export const makeDelete = (
  topics: Topics,
  identity: Identity,
  room: string,
  page: number,
  id: string,
  ts: number,
) => build<DeleteEnvelope>(identity, topics.message(room, page, id), { t: 'del', id, ts }, history);

/** The head marker (rule HIST-4) or a page marker (rule HIST-5). */
export const makePageMarker = (
  topics: Topics,
  identity: Identity,
  kind: 'head' | 'page',
  room: string,
  page: number,
  ts: number,
) =>
  build<PageEnvelope>(identity, kind === 'head' ? topics.head(room) : topics.page(room, page), {
    t: kind,
    ts,
    page,
  });

/** One user's whole reaction set for one message (rule REACT-1). */
export const makeReaction = (
  topics: Topics,
  identity: Identity,
  target: { room: string; page: number; id: string },
  react: string[],
  ts: number,
) =>
  build<ReactEnvelope>(
    identity,
    topics.react(target.room, target.page, target.id, identity.userId),
    {
      t: 'react',
      ts,
      id: target.id,
      react,
    },
    history,
  );

/** Presence in a room (rule PRES-1). */
export const makeHere = (
  topics: Topics,
  identity: Identity,
  room: string,
  fields: { name: string; conn: string; hb: number; on: boolean; ts: number },
) =>
  // Expires with the member (rule PRES-4), so MQTT 5 brokers drop ghosts themselves.
  build<HereEnvelope>(
    identity,
    topics.here(room, identity.userId),
    { t: 'here', ...fields },
    {
      qos: 1,
      retain: true,
      expiry: Math.ceil(fields.hb * 2.5),
    },
  );

/** The Last Will: connection `conn` is gone (rule PRES-3). */
export const makeGone = (topics: Topics, identity: Identity, conn: string, ts: number) =>
  build<StatusEnvelope>(identity, topics.status(identity.userId), { t: 'gone', conn, ts });

/** A typing notice: not retained, QoS 0 (rule PRES-6). */
export const makeTyping = (topics: Topics, identity: Identity, room: string, ts: number) =>
  build<TypingEnvelope>(
    identity,
    topics.typing(room, identity.userId),
    { t: 'typing', ts },
    { qos: 0, retain: false },
  );

/** Asks peers to re-deliver messages by (sender, seq): not retained, QoS 1 (rule SYNC-2). */
export const makeSync = (
  topics: Topics,
  identity: Identity,
  room: string,
  want: [string, number][],
  ts: number,
) => build<SyncEnvelope>(identity, topics.sync(room), { t: 'sync', ts, want }, { qos: 1, retain: false });

/** A room directory entry (rule ROOM-3). */
export const makeRoomEntry = (
  topics: Topics,
  identity: Identity,
  room: string,
  fields: { title: string; desc: string; ts: number },
) => build<RoomEnvelope>(identity, topics.directory(room), { t: 'room', ...fields });
