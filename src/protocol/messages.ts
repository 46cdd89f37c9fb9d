import { signEnvelope, encodeEnvelope, type MessageEnvelope, type PageEnvelope } from './envelope.ts';
import type { Identity } from './keys.ts';
import type { Topics } from './topics.ts';

/** What a publisher sends: a topic, its payload and the MQTT flags the protocol prescribes. */
export interface Outgoing<E> {
  topic: string;
  payload: Uint8Array;
  envelope: E;
  qos: 0 | 1;
  retain: boolean;
}

export interface MessageDraft {
  room: string;
  page: number;
  id: string;
  name: string;
  ts: number;
  text: string;
  reply?: string;
}

/** Builds a signed room message (rules MSG-1..MSG-4): retained, QoS 1, one topic per message. */
export const makeMessage = async (
  topics: Topics,
  identity: Identity,
  draft: MessageDraft,
): Promise<Outgoing<MessageEnvelope>> => {
  const topic = topics.message(draft.room, draft.page, draft.id);
  const envelope = await signEnvelope<MessageEnvelope>(identity, topic, {
    v: 1,
    t: 'msg',
    id: draft.id,
    from: identity.userId,
    name: draft.name,
    ts: draft.ts,
    text: draft.text,
    ...(draft.reply !== undefined && { reply: draft.reply }),
  });
  return { topic, envelope, payload: encodeEnvelope(envelope), qos: 1, retain: true };
};

/** Builds the head marker (rule HIST-4) or a page marker (rule HIST-5). */
export const makePageMarker = async (
  topics: Topics,
  identity: Identity,
  kind: 'head' | 'page',
  room: string,
  page: number,
  ts: number,
): Promise<Outgoing<PageEnvelope>> => {
  const topic = kind === 'head' ? topics.head(room) : topics.page(room, page);
  const envelope = await signEnvelope<PageEnvelope>(identity, topic, {
    v: 1,
    t: kind,
    from: identity.userId,
    ts,
    page,
  });
  return { topic, envelope, payload: encodeEnvelope(envelope), qos: 1, retain: true };
};
