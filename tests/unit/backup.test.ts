import { describe, expect, it } from 'vitest';
import { exportIdentity, generateExportableIdentity, importIdentity } from '../../src/protocol/backup.ts';
import { decodeEnvelope } from '../../src/protocol/envelope.ts';
import { topics } from '../../src/protocol/topics.ts';
import { buildMessage } from '../helpers/envelopes.ts';

const t = topics();

describe('identity export and import (ID-4)', () => {
  it('round-trips through a passphrase-protected file; the imported key signs as the same user', async () => {
    const alice = await generateExportableIdentity();
    expect(alice.privateKey.extractable).toBe(false);
    const file = await exportIdentity(alice, 'correct horse', 2000);
    expect(file).not.toContain('PRIVATE');
    const imported = await importIdentity(file, 'correct horse');
    if (!imported.ok) throw new Error(imported.error);
    expect(imported.identity.userId).toBe(alice.userId);
    expect(imported.identity.privateKey.extractable).toBe(false);
    const { topic, payload } = await buildMessage(t, imported.identity);
    expect((await decodeEnvelope(topic, payload)).ok).toBe(true);
  });

  it('says which: a wrong passphrase, or a file that is not an identity', async () => {
    const alice = await generateExportableIdentity();
    const file = await exportIdentity(alice, 'right', 2000);
    expect(await importIdentity(file, 'wrong')).toEqual({ ok: false, error: 'passphrase' });
    expect(await importIdentity('not json', 'x')).toEqual({ ok: false, error: 'format' });
    expect(await importIdentity('{"format":"mqchat-identity-v1"}', 'x')).toEqual({
      ok: false,
      error: 'format',
    });
    const other = JSON.parse(file) as Record<string, unknown>;
    other.user = (await generateExportableIdentity()).userId;
    expect(await importIdentity(JSON.stringify(other), 'right')).toEqual({ ok: false, error: 'passphrase' });
  });
});
