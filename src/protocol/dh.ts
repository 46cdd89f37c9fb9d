import { fromBase64url, toBase64url } from './bytes.ts';
import { decodeEnvelope, encodeEnvelope, signEnvelope, type Envelope, type KeyEnvelope } from './envelope.ts';
import type { Identity } from './keys.ts';
import type { Outgoing } from './messages.ts';
import { parseTopic, type Topics } from './topics.ts';

/**
 * DM keys (rule DM-1). Besides the Ed25519 identity, every user holds an X25519 key pair for direct
 * messages. The public half is announced, signed by the identity key, retained at
 * `topics.key(userId)`; senders seal DMs to it (rules DM-2..DM-5, see dms.ts).
 */

/** WebCrypto's name for the curve; the cast in callers keeps older TS lib typings happy. */
export const X25519 = { name: 'X25519' } as const;

/** A DM key pair (rule DM-1). */
export interface DhKeyPair {
  /** Raw 32-byte X25519 public key in base64url, 43 characters. */
  publicKey: string;
  /** X25519 private key, non-extractable, usage `deriveBits` only. */
  privateKey: CryptoKey;
}

/** True for a canonical base64url string of exactly 32 bytes (rule DM-1). */
export const isDhPublicKey = (value: unknown): value is string =>
  typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value) && fromBase64url(value)?.length === 32;

/**
 * Generates a DM key pair (rule DM-1). The private key is non-extractable: page script can derive
 * with it but never read it out. WebCrypto always lets the public half of a pair be exported.
 */
export const generateDhKeyPair = async (): Promise<DhKeyPair> => {
  const pair = (await crypto.subtle.generateKey(X25519, false, ['deriveBits'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { publicKey: toBase64url(raw), privateKey: pair.privateKey };
};

/** Imports an announced X25519 public key; undefined (never a throw) for anything malformed. */
export const importDhPublicKey = async (publicKey: string): Promise<CryptoKey | undefined> => {
  const raw = isDhPublicKey(publicKey) ? fromBase64url(publicKey) : undefined;
  if (raw === undefined) return undefined;
  try {
    return await crypto.subtle.importKey('raw', raw, X25519, true, []);
  } catch {
    return undefined;
  }
};

/**
 * Builds the signed DM key announcement (rule DM-1): `{v:1,t:'key',from,ts,dh}` on
 * `topics.key(identity.userId)`, retained, QoS 1, so senders find the key while the owner is offline.
 */
export const makeKeyAnnouncement = async (
  topics: Topics,
  identity: Identity,
  dhPublicKey: string,
  ts: number,
): Promise<Outgoing<KeyEnvelope>> => {
  if (!isDhPublicKey(dhPublicKey)) throw new Error('invalid X25519 public key');
  const topic = topics.key(identity.userId);
  const envelope = await signEnvelope<KeyEnvelope>(identity, topic, {
    v: 1,
    t: 'key',
    from: identity.userId,
    ts,
    dh: dhPublicKey,
  });
  return { topic, envelope, payload: encodeEnvelope(envelope), qos: 1, retain: true };
};

/**
 * Semantic check of a key announcement whose signature was already verified on `topic` (rule DM-1):
 * it must be a `key` envelope, a user announces only their own key (`from` equals the user in the
 * topic, as parseTopic returned it), the topic is that user's key topic, and `dh` is a real 32-byte
 * key.
 */
export const checkKeyAnnouncement = (
  topic: string,
  envelope: Envelope,
  parsedTopicUser: string,
): envelope is KeyEnvelope =>
  envelope.t === 'key' &&
  envelope.from === parsedTopicUser &&
  topic.endsWith(`/user/${parsedTopicUser}/key`) &&
  isDhPublicKey(envelope.dh);

/**
 * The whole receive path for a key announcement (rule DM-1): topic parse, size/schema/signature
 * (decodeEnvelope) and checkKeyAnnouncement. Undefined, never a throw, for anything else.
 */
export const readKeyAnnouncement = async (
  prefix: string,
  topic: string,
  payload: Uint8Array,
): Promise<KeyEnvelope | undefined> => {
  const parsed = parseTopic(prefix, topic);
  if (parsed?.kind !== 'key') return undefined;
  const decoded = await decodeEnvelope(topic, payload);
  if (!decoded.ok) return undefined;
  return checkKeyAnnouncement(topic, decoded.envelope, parsed.user) ? decoded.envelope : undefined;
};

/**
 * Trust on first use (rule DM-1): compares the key we remembered for a user with a newly announced
 * one. `changed` means the user (or someone with their identity key) rotated it; clients should
 * say so before sealing to the new key.
 */
export const compareKnownKey = (known: string | undefined, announced: string): 'new' | 'same' | 'changed' =>
  known === undefined ? 'new' : known === announced ? 'same' : 'changed';
