import { fromBase64url, toBase64url, utf8 } from './bytes.ts';
import { isUserId, randomBytes } from './ids.ts';
import type { Identity } from './keys.ts';

/**
 * Identity export and import (PROTOCOL.md rule ID-4). The signing key in use is non-extractable;
 * a copy of its PKCS#8 bytes is kept sealed under a non-extractable AES-GCM device key, so page
 * script can only turn it into a passphrase-protected file on purpose, never read it in passing.
 */
export interface IdentityBackup {
  deviceKey: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  sealed: Uint8Array<ArrayBuffer>;
}

export interface BackedUpIdentity extends Identity {
  backup: IdentityBackup;
}

export const EXPORT_FORMAT = 'mqchat-identity-v1';
/** PBKDF2-SHA-256 iterations for the file's passphrase (OWASP 2023 advice). */
export const EXPORT_ITERATIONS = 600_000;

const ED25519 = { name: 'Ed25519' } as const;
const AES = { name: 'AES-GCM', length: 256 } as const;

export type ImportError = 'format' | 'passphrase';

/** Makes an identity from PKCS#8 bytes: a non-extractable signing key plus its sealed copy. */
const fromPkcs8 = async (pkcs8: Uint8Array<ArrayBuffer>): Promise<BackedUpIdentity> => {
  const readable = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', readable);
  const raw = jwk.x === undefined ? undefined : fromBase64url(jwk.x);
  if (raw === undefined || raw.length !== 32) throw new Error('not an Ed25519 key');
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign']);
  const publicKey = await crypto.subtle.importKey('raw', raw, ED25519, true, ['verify']);
  const deviceKey = await crypto.subtle.generateKey(AES, false, ['encrypt', 'decrypt']);
  const iv = randomBytes(12) as Uint8Array<ArrayBuffer>;
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, deviceKey, pkcs8));
  return { userId: toBase64url(raw), privateKey, publicKey, backup: { deviceKey, iv, sealed } };
};

/** A new identity that can later be exported (rule ID-1, ID-4). */
export const generateExportableIdentity = async (): Promise<BackedUpIdentity> => {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  return fromPkcs8(pkcs8);
};

const passphraseKey = async (passphrase: string, salt: Uint8Array<ArrayBuffer>, iterations: number) => {
  const material = await crypto.subtle.importKey('raw', utf8(passphrase.normalize('NFC')), 'PBKDF2', false, [
    'deriveKey',
  ]);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    AES,
    false,
    ['encrypt', 'decrypt'],
  );
};

/** The identity as a JSON file, its key sealed with AES-GCM under PBKDF2(passphrase). */
export const exportIdentity = async (
  identity: BackedUpIdentity,
  passphrase: string,
  iterations = EXPORT_ITERATIONS,
): Promise<string> => {
  const { deviceKey, iv, sealed } = identity.backup;
  const pkcs8 = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, deviceKey, sealed));
  const salt = randomBytes(16) as Uint8Array<ArrayBuffer>;
  const fileIv = randomBytes(12) as Uint8Array<ArrayBuffer>;
  const key = await passphraseKey(passphrase, salt, iterations);
  const additionalData = utf8(`${EXPORT_FORMAT}\n${identity.userId}`);
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: fileIv, additionalData }, key, pkcs8),
  );
  pkcs8.fill(0);
  return JSON.stringify({
    format: EXPORT_FORMAT,
    user: identity.userId,
    kdf: { name: 'PBKDF2-SHA-256', iterations, salt: toBase64url(salt) },
    iv: toBase64url(fileIv),
    ct: toBase64url(ct),
  });
};

/** Reads an exported identity; a clear error for a file that is not one or a wrong passphrase. */
export const importIdentity = async (
  text: string,
  passphrase: string,
): Promise<{ ok: true; identity: BackedUpIdentity } | { ok: false; error: ImportError }> => {
  let file: unknown;
  try {
    file = text.length <= 4096 ? JSON.parse(text) : undefined;
  } catch {
    return { ok: false, error: 'format' };
  }
  const f = file as {
    format?: unknown;
    user?: unknown;
    kdf?: Record<string, unknown>;
    iv?: unknown;
    ct?: unknown;
  };
  const iterations = f?.kdf?.iterations;
  const salt = typeof f?.kdf?.salt === 'string' ? fromBase64url(f.kdf.salt) : undefined;
  const iv = typeof f?.iv === 'string' ? fromBase64url(f.iv) : undefined;
  const ct = typeof f?.ct === 'string' ? fromBase64url(f.ct) : undefined;
  if (
    f?.format !== EXPORT_FORMAT ||
    !isUserId(f.user) ||
    f.kdf?.name !== 'PBKDF2-SHA-256' ||
    !Number.isSafeInteger(iterations) ||
    (iterations as number) < 1000 ||
    (iterations as number) > 10_000_000 ||
    salt === undefined ||
    iv?.length !== 12 ||
    ct === undefined
  ) {
    return { ok: false, error: 'format' };
  }
  let pkcs8: Uint8Array<ArrayBuffer>;
  try {
    const key = await passphraseKey(passphrase, salt, iterations as number);
    const additionalData = utf8(`${EXPORT_FORMAT}\n${f.user}`);
    pkcs8 = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData }, key, ct));
  } catch {
    return { ok: false, error: 'passphrase' };
  }
  try {
    const identity = await fromPkcs8(pkcs8);
    return identity.userId === f.user ? { ok: true, identity } : { ok: false, error: 'format' };
  } catch {
    return { ok: false, error: 'format' };
  } finally {
    pkcs8.fill(0);
  }
};
