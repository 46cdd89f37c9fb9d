import {
  FUTURE_SKEW_MS,
  type DeleteEnvelope,
  type DirectEnvelope,
  type Envelope,
  type MessageEnvelope,
} from '../protocol/envelope.ts';
import { clampTimestamp } from '../protocol/history.ts';
import type { Topic } from '../protocol/topics.ts';
import type { StoredMessage } from '../storage/store.ts';

/**
 * Conversions between wire envelopes and stored timeline records, and the topic binding rules.
 * Pure functions: the chat client calls them on every message it sends or receives.
 */

/** DM conversations live in the store and timeline under this pseudo-room; `@` is never in a room name. */
export const dmRoom = (peer: string): string => `@${peer}`;
export const dmPeer = (room: string): string | undefined =>
  room.startsWith('@') ? room.slice(1) : undefined;

/** Which envelope types may appear on which topic, and whose they must be (rules SIG-4, ENV-4). */
export const bindsTo = (topic: Topic, envelope: Envelope): boolean => {
  switch (topic.kind) {
    case 'message':
      return (envelope.t === 'msg' || envelope.t === 'del') && envelope.id === topic.id;
    case 'head':
      return envelope.t === 'head';
    case 'page':
      return envelope.t === 'page' && envelope.page === topic.page;
    case 'react':
      return envelope.t === 'react' && envelope.id === topic.id && envelope.from === topic.user;
    case 'here':
      return envelope.t === 'here' && envelope.from === topic.user;
    case 'typing':
      return envelope.t === 'typing' && envelope.from === topic.user;
    case 'sync':
      return envelope.t === 'sync';
    case 'directory':
      return envelope.t === 'room';
    case 'status':
      return envelope.t === 'gone' && envelope.from === topic.user;
    case 'key':
      return envelope.t === 'key' && envelope.from === topic.user;
    case 'dm':
      return false;
  }
};

/** Edits and deletes supersede what they replace: a tombstone beats everything (rule EDIT-2). */
export const version = (message: StoredMessage): number =>
  message.deleted ? Number.MAX_SAFE_INTEGER : (message.edited ?? 0);

export const toStored = (
  room: string,
  page: number,
  envelope: MessageEnvelope,
  now: number,
  state: StoredMessage['state'],
): StoredMessage => ({
  room,
  page,
  id: envelope.id,
  from: envelope.from,
  name: envelope.name,
  ts: envelope.ts,
  sortTs: clampTimestamp(envelope.ts, now, FUTURE_SKEW_MS),
  text: envelope.text,
  ...(envelope.reply !== undefined && { reply: envelope.reply }),
  ...(envelope.edited !== undefined && { edited: envelope.edited }),
  ...(envelope.seq !== undefined && { seq: envelope.seq }),
  sig: envelope.sig,
  state,
});

/** A DM as a timeline entry in its conversation's pseudo-room (page 0). */
export const directToStored = (
  peer: string,
  envelope: DirectEnvelope,
  now: number,
  state: StoredMessage['state'],
): StoredMessage => ({
  room: dmRoom(peer),
  page: 0,
  id: envelope.id,
  from: envelope.from,
  name: envelope.name,
  ts: envelope.ts,
  sortTs: clampTimestamp(envelope.ts, now, FUTURE_SKEW_MS),
  text: envelope.text,
  sig: envelope.sig,
  state,
});

/** A deleted message keeps its place in the timeline but loses its text (rule EDIT-2). */
export function toTombstone(message: StoredMessage, envelope: DeleteEnvelope): StoredMessage;
export function toTombstone(
  message: undefined,
  envelope: DeleteEnvelope,
  room: string,
  page: number,
  now: number,
): StoredMessage;
export function toTombstone(
  message: StoredMessage | undefined,
  envelope: DeleteEnvelope,
  room?: string,
  page?: number,
  now?: number,
): StoredMessage {
  return {
    room: message?.room ?? room ?? '',
    page: message?.page ?? page ?? 0,
    id: envelope.id,
    from: envelope.from,
    name: message?.name ?? '',
    ts: message?.ts ?? envelope.ts,
    sortTs: message?.sortTs ?? clampTimestamp(envelope.ts, now ?? envelope.ts, FUTURE_SKEW_MS),
    text: '',
    deleted: true,
    sig: envelope.sig,
    state: 'sent',
  };
}

export const toEnvelope = (message: StoredMessage): MessageEnvelope => ({
  v: 1,
  t: 'msg',
  id: message.id,
  from: message.from,
  name: message.name,
  ts: message.ts,
  text: message.text,
  ...(message.reply !== undefined && { reply: message.reply }),
  ...(message.edited !== undefined && { edited: message.edited }),
  ...(message.seq !== undefined && { seq: message.seq }),
  sig: message.sig,
});
