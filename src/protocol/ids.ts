import { toHex } from './bytes.ts';

/** Message ids: 128 random bits as 32 lowercase hex digits (PROTOCOL.md rule ENV-3). */
export const ID_PATTERN = /^[0-9a-f]{32}$/;

/** User ids: the raw 32-byte Ed25519 public key in base64url, 43 characters (rule ID-1). */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export const isMessageId = (value: unknown): value is string =>
  typeof value === 'string' && ID_PATTERN.test(value);

export const isUserId = (value: unknown): value is string =>
  typeof value === 'string' && USER_ID_PATTERN.test(value);

/** Builds a message id from 16 random bytes; randomness is an input so tests stay deterministic. */
export const makeMessageId = (random: (length: number) => Uint8Array): string => toHex(random(16));

export const randomBytes = (length: number): Uint8Array => crypto.getRandomValues(new Uint8Array(length));

/** A short, human-comparable fingerprint of a user id (rule ID-3): 4 groups of 4 hex-like chars. */
export const fingerprint = (userId: string): string => userId.slice(0, 8).replace(/(.{4})(?=.)/g, '$1·');

export { toHex as toHexId } from './bytes.ts';
