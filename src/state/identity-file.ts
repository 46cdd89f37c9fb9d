import {
  exportIdentity,
  importIdentity,
  type BackedUpIdentity,
  type ImportError,
} from '../protocol/backup.ts';
import type { Identity } from '../protocol/keys.ts';

/**
 * Identity backup files (rule ID-4): the signing key, sealed under a passphrase, to move an identity
 * to another browser. Only identities made with a sealed copy of their key can be exported.
 */
export type IdentityFileProblem = 'not-exportable' | ImportError;

export class IdentityFileError extends Error {
  readonly problem: IdentityFileProblem;

  constructor(problem: IdentityFileProblem) {
    super(problem);
    this.name = 'IdentityFileError';
    this.problem = problem;
  }
}

/** Identities made before backups existed hold no sealed copy of their key. */
export const isExportable = (identity: Identity): identity is BackedUpIdentity => {
  const backup = (identity as Partial<BackedUpIdentity>).backup;
  return backup !== undefined && backup.sealed instanceof Uint8Array && backup.iv instanceof Uint8Array;
};

/** The file to download; `iterations` is for tests (the default is the protocol's). */
export const exportIdentityFile = async (
  identity: Identity,
  passphrase: string,
  iterations?: number,
): Promise<Blob> => {
  if (!isExportable(identity)) throw new IdentityFileError('not-exportable');
  const text = await exportIdentity(identity, passphrase, ...(iterations === undefined ? [] : [iterations]));
  return new Blob([text], { type: 'application/json' });
};

/** Reads a file made by exportIdentityFile; a wrong passphrase or another file is an IdentityFileError. */
export const importIdentityFile = async (file: Blob, passphrase: string): Promise<BackedUpIdentity> => {
  // Identity files are a few hundred bytes; importIdentity refuses anything over 4 KiB anyway.
  const text = file.size > 4096 ? '' : await file.text();
  const result = await importIdentity(text, passphrase);
  if (!result.ok) throw new IdentityFileError(result.error);
  return result.identity;
};

/** The download's name: `mqchat-identity-<first 8 characters of the user id>.json`. */
export const identityFileName = (userId: string): string => `mqchat-identity-${userId.slice(0, 8)}.json`;
