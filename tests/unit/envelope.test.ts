import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/protocol/bytes.ts';
import { canonicalJson } from '../../src/protocol/canonical.ts';
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_MAX_BYTES,
  parseEnvelope,
  TEXT_MAX_LENGTH,
} from '../../src/protocol/envelope.ts';
import { generateIdentity } from '../../src/protocol/keys.ts';
import { topics } from '../../src/protocol/topics.ts';
import { buildMessage } from '../helpers/envelopes.ts';

const t = topics();
const alice = await generateIdentity();
const mallory = await generateIdentity();

const reencode = (value: unknown) => utf8(JSON.stringify(value));

describe('envelope decoding', () => {
  it('accepts a message signed by its sender on its own topic (SIG-1, SIG-3)', async () => {
    const { topic, payload } = await buildMessage(t, alice);
    const decoded = await decodeEnvelope(topic, payload);
    expect(decoded.ok).toBe(true);
  });

  it('rejects a payload over the size cap before parsing it (ENV-1)', () => {
    expect(parseEnvelope(new Uint8Array(ENVELOPE_MAX_BYTES + 1))).toEqual({ ok: false, reason: 'oversize' });
  });

  it('rejects invalid UTF-8 and broken JSON without throwing (ENV-1)', () => {
    expect(parseEnvelope(new Uint8Array([0xff, 0xfe, 0x7b]))).toEqual({ ok: false, reason: 'utf8' });
    expect(parseEnvelope(utf8('{"v":1,'))).toEqual({ ok: false, reason: 'json' });
    expect(parseEnvelope(utf8('['.repeat(50_000)))).toEqual({ ok: false, reason: 'json' });
  });

  it('rejects unknown fields, wrong types and prototype keys (ENV-2)', async () => {
    const { envelope } = await buildMessage(t, alice);
    const cases: unknown[] = [
      { ...envelope, extra: 1 },
      { ...envelope, ts: '1700000000000' },
      { ...envelope, ts: 1.5 },
      { ...envelope, v: 2 },
      { ...envelope, t: 'nope' },
      { ...envelope, text: '' },
      { ...envelope, text: '   ' },
      { ...envelope, text: 'x'.repeat(TEXT_MAX_LENGTH + 1) },
      { ...envelope, name: 'Al\u202eice' },
      { ...envelope, from: 'not-a-key' },
      [envelope],
      null,
      42,
    ];
    for (const value of cases) expect(parseEnvelope(reencode(value)).ok, JSON.stringify(value)).toBe(false);
    const proto = utf8(canonicalJson(envelope as never).replace('{', '{"__proto__":{"admin":true},'));
    const ctor = utf8(canonicalJson(envelope as never).replace('{', '{"constructor":1,'));
    expect(parseEnvelope(ctor).ok).toBe(false);
    expect(parseEnvelope(proto).ok).toBe(false);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('rejects a forged sender: a valid signature by someone else (SIG-3)', async () => {
    const { topic, envelope } = await buildMessage(t, mallory);
    const forged = encodeEnvelope({ ...envelope, from: alice.userId });
    expect(await decodeEnvelope(topic, forged)).toEqual({ ok: false, reason: 'signature' });
  });

  it('rejects an envelope replayed on another topic (SIG-1)', async () => {
    const { envelope } = await buildMessage(t, alice, { room: 'lobby' });
    const other = t.message('other', 0, envelope.id);
    expect(await decodeEnvelope(other, encodeEnvelope(envelope))).toEqual({ ok: false, reason: 'signature' });
  });

  it('rejects an edited text under the original signature (SIG-1)', async () => {
    const { topic, envelope } = await buildMessage(t, alice);
    const tampered = encodeEnvelope({ ...envelope, text: 'goodbye' });
    expect((await decodeEnvelope(topic, tampered)).ok).toBe(false);
  });

  it('encodes canonically: the same envelope gives the same bytes whatever the key order (SIG-2)', async () => {
    const { envelope } = await buildMessage(t, alice);
    const shuffled = Object.fromEntries(Object.entries(envelope).reverse()) as typeof envelope;
    expect(encodeEnvelope(shuffled)).toEqual(encodeEnvelope(envelope));
  });
});
