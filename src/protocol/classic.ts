import { fromUtf8, utf8 } from './bytes.ts';
import { cleanName, cleanText } from './names.ts';

/**
 * The classic bridge (PROTOCOL.md rules CLASSIC-1..CLASSIC-4): compatibility with the origin's paho
 * terminal chat, which publishes plain text on `chat/<room>/<user>` and subscribes to `chat/<room>/#`.
 * Nothing there is signed, so everything from it is shown as unverified, sender taken from the topic.
 */
export const CLASSIC_ROOT = 'chat';
/** Plain-text payloads above this are dropped (rule CLASSIC-2). */
export const CLASSIC_MAX_BYTES = 8 * 1024;

/** The classic topic level for a display name: no `/`, `+`, `#`, spaces or controls (rule CLASSIC-3). */
export const classicUser = (name: string): string =>
  cleanName(name)
    .replace(/[/+#\s$]/gu, '_')
    .slice(0, 40) || 'anonymous';

export const classicTopics = (room: string) => ({
  filter: `${CLASSIC_ROOT}/${room}/#`,
  publish: (name: string) => `${CLASSIC_ROOT}/${room}/${classicUser(name)}`,
});

export interface ClassicMessage {
  room: string;
  user: string;
  text: string;
}

/** Reads a classic message; undefined for anything that is not one-level user plain UTF-8 text. */
export const parseClassic = (topic: string, payload: Uint8Array): ClassicMessage | undefined => {
  const [root, room, user, ...rest] = topic.split('/');
  if (root !== CLASSIC_ROOT || room === undefined || user === undefined || rest.length > 0) return undefined;
  if (payload.length === 0 || payload.length > CLASSIC_MAX_BYTES) return undefined;
  const raw = fromUtf8(payload);
  const name = cleanName(user);
  if (raw === undefined || name.length === 0) return undefined;
  const text = cleanText(raw).trim();
  return text.length === 0 ? undefined : { room, user: name, text };
};

export const classicPayload = (text: string): Uint8Array => utf8(text);
