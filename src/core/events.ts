import type { RejectReason } from '../protocol/envelope.ts';
import type { StoredMessage } from '../storage/store.ts';
import type { StatusChange } from '../transport/transport.ts';
import type { Member, PresenceChange } from './presence.ts';

/** The chat client's typed events and result types, shared by its parts. */
export interface RoomEntry {
  room: string;
  title: string;
  desc: string;
  creator: string;
  ts: number;
}

export interface ChatEvents {
  status: (change: StatusChange) => void;
  /** Messages added to or changed in a room's timeline, in no particular order. */
  messages: (room: string, messages: StoredMessage[]) => void;
  /** The reactions of one message changed: reaction → user ids. */
  reactions: (room: string, id: string, summary: Record<string, string[]>) => void;
  /** The online list of a room, and what changed (joins and leaves for the timeline). */
  presence: (room: string, members: Member[], changes: PresenceChange[]) => void;
  typing: (room: string, users: { user: string; name: string }[]) => void;
  directory: (entries: RoomEntry[]) => void;
  /** A DM key was seen: 'changed' means it differs from the first one seen for that user (rule DM-1). */
  key: (user: string, status: KeyStatus) => void;
  rejected: (reason: RejectReason | 'flood', topic: string) => void;
  /** The set of muted users changed. */
  muted: (users: string[]) => void;
}

export type SendError = 'empty' | 'too-long' | 'not-joined' | 'not-found' | 'not-yours' | 'no-key';

export type KeyStatus = 'new' | 'same' | 'changed';
