import { concatBytes, fromBase64url, fromUtf8, toBase64url, utf8 } from './bytes.ts';
import { canonicalJson } from './canonical.ts';
import { X25519, importDhPublicKey, isDhPublicKey } from './dh.ts';
import {
  ENVELOPE_MAX_BYTES,
  encodeEnvelope,
  parseEnvelope,
  signEnvelope,
  verifyEnvelope,
  type DirectEnvelope,
} from './envelope.ts';
import { isMessageId, isUserId, randomBytes } from './ids.ts';
import type { Identity } from './keys.ts';
import type { Outgoing } from './messages.ts';
import type { Topics } from './topics.ts';

/**
 * End-to-end encrypted direct messages (rules DM-2..DM-5).
 *
 * A DM is a signed DirectEnvelope (`t: 'dmi'`) sealed to the recipient's announced X25519 key
 * (rule DM-1) and published retained, QoS 1, on `topics.dm(owner, id)`. The sealed outer object is
 * not signed and names no sender: the broker sees only the inbox owner and an id.
 */

/** HKDF `info` for DM keys (rule DM-3). */
export const DM_INFO = 'mqchat-dm-v1';
/** Sealed payloads above this are rejected before parsing (rule DM-5, as ENV-1). */
export const DM_MAX_BYTES = ENVELOPE_MAX_BYTES;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The sealed outer payload (rule DM-2): exactly these keys, canonical JSON. */
export interface SealedDirect {
  v: 1;
  t: 'dm';
  /** Message id, 32 hex digits; equal to the topic's id and the inner envelope's id. */
  id: string;
  /** Ephemeral X25519 public key, raw 32 bytes in base64url (43 characters). */
  eph: string;
  /** AES-GCM nonce, 12 bytes in base64url (16 characters). */
  iv: string;
  /** AES-256-GCM ciphertext with its 16-byte tag, base64url. */
  ct: string;
}

/** What sealDirect returns: the envelope is the signed plaintext, the payload its sealed form. */
export interface SealedOutgoing extends Outgoing<DirectEnvelope> {
  sealed: SealedDirect;
}

export interface DirectDraft {
  topics: Topics;
  identity: Identity;
  /** The recipient's user id. */
  to: string;
  /** The recipient's announced X25519 public key (rule DM-1). */
  toDhKey: string;
  /** The sender's own X25519 public key, for the sender's copy (rule DM-4). */
  ownDhKey: string;
  id: string;
  name: string;
  ts: number;
  text: string;
  /** Randomness for the nonce; injectable so tests are deterministic. Defaults to WebCrypto. */
  random?: (length: number) => Uint8Array;
}

export type DirectRejectReason =
  'oversize' | 'utf8' | 'json' | 'schema' | 'decrypt' | 'signature' | 'binding';
export type OpenedDirect = { ok: true; envelope: DirectEnvelope } | { ok: false; reason: DirectRejectReason };

export interface SealedInput {
  /** The topic the payload arrived on; it is the AES-GCM additional data (rule DM-3). */
  topic: string;
  /** Inbox owner and id as parseTopic returned them for `topic`. */
  owner: string;
  id: string;
  payload: Uint8Array;
  /** Our X25519 private key (rule DM-1). */
  dhPrivateKey: CryptoKey;
  /** Our X25519 public key: the HKDF salt includes it (rule DM-3). */
  dhPublicKey: string;
}

/**
 * The topic the inner envelope is signed with (rule DM-3): `dm/<to>/<id>`, without the prefix, so
 * the same signed envelope is valid in the recipient's inbox and in the sender's copy.
 */
export const directSigningTopic = (to: string, id: string): string => `dm/${to}/${id}`;

const deriveAesKey = async (
  privateKey: CryptoKey,
  publicKey: CryptoKey,
  ephemeral: Uint8Array,
  recipient: Uint8Array,
  usage: 'encrypt' | 'decrypt',
): Promise<CryptoKey> => {
  const shared = await crypto.subtle.deriveBits({ ...X25519, public: publicKey }, privateKey, 256);
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: concatBytes(ephemeral, recipient), info: utf8(DM_INFO) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    [usage],
  );
};

/**
 * Seals plaintext to the X25519 key `recipientKey` for `topic` (rule DM-3): a fresh ephemeral pair
 * per message, X25519 → HKDF-SHA-256 (salt = eph ‖ recipient, info "mqchat-dm-v1") → AES-256-GCM
 * with the topic as additional data. Throws for a malformed or low-order recipient key.
 */
const seal = async (
  topic: string,
  id: string,
  recipientKey: string,
  plaintext: Uint8Array<ArrayBuffer>,
  random: (length: number) => Uint8Array,
): Promise<SealedDirect> => {
  const recipientRaw = fromBase64url(recipientKey);
  const recipient = await importDhPublicKey(recipientKey);
  if (recipient === undefined || recipientRaw === undefined) throw new Error('invalid X25519 public key');
  const pair = (await crypto.subtle.generateKey(X25519, false, ['deriveBits'])) as CryptoKeyPair;
  const eph = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const key = await deriveAesKey(pair.privateKey, recipient, eph, recipientRaw, 'encrypt');
  const iv = Uint8Array.from(random(IV_BYTES));
  if (iv.length !== IV_BYTES) throw new Error('random() returned the wrong length');
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: utf8(topic) },
    key,
    plaintext,
  );
  return {
    v: 1,
    t: 'dm',
    id,
    eph: toBase64url(eph),
    iv: toBase64url(iv),
    ct: toBase64url(new Uint8Array(ct)),
  };
};

/**
 * Builds a direct message (rules DM-2..DM-4): signs the DirectEnvelope with the pseudo-topic
 * `dm/<to>/<id>`, then seals it twice — to `toDhKey` for `topics.dm(to, id)` and to `ownDhKey` for
 * the sender's copy at `topics.dm(identity.userId, id)`, so the sender's other devices can read it.
 * A note to self (`to === identity.userId`) is sealed once. Every publish is retained, QoS 1.
 */
export const sealDirect = async (draft: DirectDraft): Promise<SealedOutgoing[]> => {
  const { topics, identity, to, id } = draft;
  const envelope = await signEnvelope<DirectEnvelope>(identity, directSigningTopic(to, id), {
    v: 1,
    t: 'dmi',
    id,
    from: identity.userId,
    to,
    name: draft.name,
    ts: draft.ts,
    text: draft.text,
  });
  const plaintext = encodeEnvelope(envelope);
  const random = draft.random ?? randomBytes;
  const inboxes: [string, string][] = [[to, draft.toDhKey]];
  if (to !== identity.userId) inboxes.push([identity.userId, draft.ownDhKey]);
  return Promise.all(
    inboxes.map(async ([owner, dhKey]) => {
      const topic = topics.dm(owner, id);
      const sealed = await seal(topic, id, dhKey, plaintext, random);
      const payload = utf8(canonicalJson({ ...sealed }));
      return { topic, payload, envelope, sealed, qos: 1, retain: true } satisfies SealedOutgoing;
    }),
  );
};

const isBytes = (value: unknown, length: number): boolean =>
  typeof value === 'string' && fromBase64url(value)?.length === length;

const OUTER: Record<keyof SealedDirect, (value: unknown) => boolean> = {
  v: (value) => value === 1,
  t: (value) => value === 'dm',
  id: isMessageId,
  eph: isDhPublicKey,
  iv: (value) => isBytes(value, IV_BYTES),
  ct: (value) => typeof value === 'string' && (fromBase64url(value)?.length ?? 0) >= TAG_BYTES,
};

/** Strict outer schema (rule DM-5): a plain object with exactly the keys of SealedDirect. */
const parseSealed = (value: unknown): SealedDirect | undefined => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length !== Object.keys(OUTER).length) return undefined;
  // hasOwn on both sides: a `__proto__` or `constructor` key must not find Object.prototype.
  for (const key of keys) if (!Object.hasOwn(OUTER, key)) return undefined;
  for (const [key, check] of Object.entries(OUTER)) {
    if (!Object.hasOwn(record, key) || !check(record[key])) return undefined;
  }
  return record as unknown as SealedDirect;
};

const decrypt = async (input: SealedInput, sealed: SealedDirect): Promise<Uint8Array | undefined> => {
  try {
    const eph = fromBase64url(sealed.eph)!;
    const ours = fromBase64url(input.dhPublicKey);
    const ephKey = await importDhPublicKey(sealed.eph);
    if (ours === undefined || ephKey === undefined) return undefined;
    const key = await deriveAesKey(input.dhPrivateKey, ephKey, eph, ours, 'decrypt');
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromBase64url(sealed.iv)!, additionalData: utf8(input.topic) },
      key,
      fromBase64url(sealed.ct)!,
    );
    return new Uint8Array(plain);
  } catch {
    // A wrong key, a tampered byte or a low-order ephemeral key all end here.
    return undefined;
  }
};

/**
 * Opens a sealed DM from our inbox (rules DM-2..DM-5). Never throws; every failure is a reason:
 * `oversize`/`utf8`/`json`/`schema` for the outer payload (or an unparsable plaintext),
 * `decrypt` when AES-GCM fails (not our key, tampered, or moved to another topic), `signature` when
 * the inner envelope does not verify with `dm/<to>/<id>`, and `binding` unless the inner id, the
 * outer id and the topic's id agree and the inbox owner is the envelope's `to` or its `from` (the
 * sender's own copy).
 */
export const openDirect = async (input: SealedInput): Promise<OpenedDirect> => {
  const { payload, owner, id, topic } = input;
  if (payload.length > DM_MAX_BYTES) return { ok: false, reason: 'oversize' };
  const text = fromUtf8(payload);
  if (text === undefined) return { ok: false, reason: 'utf8' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'json' };
  }
  const sealed = parseSealed(value);
  if (sealed === undefined || !isDhPublicKey(input.dhPublicKey)) return { ok: false, reason: 'schema' };
  const plaintext = await decrypt(input, sealed);
  if (plaintext === undefined) return { ok: false, reason: 'decrypt' };
  const parsed = parseEnvelope(plaintext);
  // parseEnvelope never says 'topic'; the mapping only narrows the type.
  if (!parsed.ok) return { ok: false, reason: parsed.reason === 'topic' ? 'schema' : parsed.reason };
  const envelope = parsed.envelope;
  if (envelope.t !== 'dmi') return { ok: false, reason: 'schema' };
  if (!(await verifyEnvelope(directSigningTopic(envelope.to, envelope.id), envelope))) {
    return { ok: false, reason: 'signature' };
  }
  const bound =
    envelope.id === sealed.id &&
    sealed.id === id &&
    isUserId(owner) &&
    (owner === envelope.to || owner === envelope.from) &&
    topic.endsWith(`/dm/${owner}/${id}`);
  return bound ? { ok: true, envelope } : { ok: false, reason: 'binding' };
};
