import { fromBase64url, toBase64url } from './bytes.ts';
import { isUserId } from './ids.ts';

/**
 * Identity (PROTOCOL.md rules ID-1..ID-2): an Ed25519 key pair made with WebCrypto; the user id is the
 * raw public key in base64url. The private key is created non-extractable so page script can sign
 * with it but never read it out.
 */
export interface Identity {
  userId: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

const ED25519 = { name: 'Ed25519' } as const;

export const generateIdentity = async (): Promise<Identity> => {
  const pair = (await crypto.subtle.generateKey(ED25519, false, ['sign', 'verify'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { userId: toBase64url(raw), privateKey: pair.privateKey, publicKey: pair.publicKey };
};

export const signBytes = async (identity: Identity, bytes: Uint8Array<ArrayBuffer>): Promise<string> =>
  toBase64url(new Uint8Array(await crypto.subtle.sign(ED25519, identity.privateKey, bytes)));

/** Imported public keys, by user id: importing costs more than verifying a short message. */
const keyCache = new Map<string, Promise<CryptoKey | undefined>>();
const KEY_CACHE_LIMIT = 4096;

const importUserKey = (userId: string): Promise<CryptoKey | undefined> => {
  let key = keyCache.get(userId);
  if (key === undefined) {
    const raw = isUserId(userId) ? fromBase64url(userId) : undefined;
    key =
      raw === undefined || raw.length !== 32
        ? Promise.resolve(undefined)
        : crypto.subtle.importKey('raw', raw, ED25519, true, ['verify']).catch(() => undefined);
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value as string);
    keyCache.set(userId, key);
  }
  return key;
};

/** Verifies an Ed25519 signature by `userId`; false (never a throw) for any malformed input. */
export const verifyBytes = async (
  userId: string,
  bytes: Uint8Array<ArrayBuffer>,
  signature: string,
): Promise<boolean> => {
  const sig = fromBase64url(signature);
  if (sig === undefined || sig.length !== 64) return false;
  const key = await importUserKey(userId);
  if (key === undefined) return false;
  try {
    return await crypto.subtle.verify(ED25519, key, sig, bytes);
  } catch {
    return false;
  }
};
