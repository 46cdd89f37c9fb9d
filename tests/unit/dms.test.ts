import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64url, toBase64url, utf8 } from '../../src/protocol/bytes.ts';
import { canonicalJson, type Json } from '../../src/protocol/canonical.ts';
import {
  checkKeyAnnouncement,
  compareKnownKey,
  generateDhKeyPair,
  isDhPublicKey,
  makeKeyAnnouncement,
  readKeyAnnouncement,
  type DhKeyPair,
} from '../../src/protocol/dh.ts';
import {
  DM_MAX_BYTES,
  directSigningTopic,
  openDirect,
  sealDirect,
  type SealedDirect,
  type SealedOutgoing,
} from '../../src/protocol/dms.ts';
import {
  decodeEnvelope,
  encodeEnvelope,
  signEnvelope,
  type DirectEnvelope,
  type Envelope,
} from '../../src/protocol/envelope.ts';
import { generateIdentity, type Identity } from '../../src/protocol/keys.ts';
import { DEFAULT_PREFIX, topics } from '../../src/protocol/topics.ts';
import { buildMessage } from '../helpers/envelopes.ts';

const t = topics();
const [alice, bob, carol, mallory] = await Promise.all([
  generateIdentity(),
  generateIdentity(),
  generateIdentity(),
  generateIdentity(),
]);
const [aliceDh, bobDh, carolDh] = await Promise.all([
  generateDhKeyPair(),
  generateDhKeyPair(),
  generateDhKeyPair(),
]);

const ID = '0123456789abcdef0123456789abcdef';
const OTHER_ID = 'fedcba9876543210fedcba9876543210';
const TEXT = 'meet me at the usual place';
const TS = 1_700_000_000_000;

const send = (overrides: { from?: Identity; to?: Identity; toDh?: DhKeyPair } = {}) => {
  const { from = alice, to = bob, toDh = bobDh } = overrides;
  return sealDirect({
    topics: t,
    identity: from,
    to: to.userId,
    toDhKey: toDh.publicKey,
    ownDhKey: (from === alice ? aliceDh : carolDh).publicKey,
    id: ID,
    name: 'Alice',
    ts: TS,
    text: TEXT,
  });
};

const open = (topic: string, owner: string, id: string, payload: Uint8Array, dh: DhKeyPair) =>
  openDirect({ topic, owner, id, payload, dhPrivateKey: dh.privateKey, dhPublicKey: dh.publicKey });

/** Bob opening what arrived on his inbox topic for ID. */
const bobOpens = (payload: Uint8Array) => open(t.dm(bob.userId, ID), bob.userId, ID, payload, bobDh);

const toBob = async (): Promise<SealedOutgoing> => (await send())[0]!;

const X25519 = { name: 'X25519' };

/**
 * An independent implementation of the sealing rule (DM-3), written from the spec rather than
 * imported, so forged plaintexts can be sealed and the two implementations check each other.
 */
const sealRaw = async (topic: string, id: string, recipient: string, plaintext: Uint8Array<ArrayBuffer>) => {
  const pair = (await crypto.subtle.generateKey(X25519, false, ['deriveBits'])) as CryptoKeyPair;
  const eph = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const recipientRaw = fromBase64url(recipient)!;
  const recipientKey = await crypto.subtle.importKey('raw', recipientRaw, X25519, true, []);
  const shared = await crypto.subtle.deriveBits(
    { name: 'X25519', public: recipientKey },
    pair.privateKey,
    256,
  );
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: concatBytes(eph, recipientRaw), info: utf8('mqchat-dm-v1') },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt'],
  );
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(topic) }, key, plaintext),
  );
  const sealed = { v: 1, t: 'dm', id, eph: toBase64url(eph), iv: toBase64url(iv), ct: toBase64url(ct) };
  return utf8(canonicalJson(sealed));
};

const innerFrom = (signer: Identity, fields: Partial<Omit<DirectEnvelope, 'sig'>> = {}) => {
  const unsigned: Omit<DirectEnvelope, 'sig'> = {
    v: 1,
    t: 'dmi',
    id: ID,
    from: signer.userId,
    to: bob.userId,
    name: 'Alice',
    ts: TS,
    text: TEXT,
    ...fields,
  };
  return signEnvelope<DirectEnvelope>(signer, directSigningTopic(unsigned.to, unsigned.id), unsigned);
};

const outerOf = (out: SealedOutgoing): Record<string, Json> =>
  JSON.parse(new TextDecoder().decode(out.payload)) as Record<string, Json>;

const withOuter = (out: SealedOutgoing, change: (outer: Record<string, Json>) => void): Uint8Array => {
  const outer = outerOf(out);
  change(outer);
  return utf8(JSON.stringify(outer));
};

/** Flips one bit of a base64url field's bytes, keeping it the same length. */
const flip = (field: string): string => {
  const bytes = fromBase64url(field)!;
  bytes[0] = bytes[0]! ^ 1;
  return toBase64url(bytes);
};

describe('DM keys (DM-1)', () => {
  it('generates an X25519 pair whose private key cannot be exported and only derives bits (DM-1)', async () => {
    const pair = await generateDhKeyPair();
    expect(isDhPublicKey(pair.publicKey)).toBe(true);
    expect(pair.publicKey).toHaveLength(43);
    expect(pair.privateKey.extractable).toBe(false);
    expect(pair.privateKey.usages).toEqual(['deriveBits']);
    expect(pair.privateKey.algorithm.name).toBe('X25519');
    await expect(crypto.subtle.exportKey('pkcs8', pair.privateKey)).rejects.toThrow();
  });

  it('announces the key signed, retained, at QoS 1 on the owner key topic (DM-1)', async () => {
    const out = await makeKeyAnnouncement(t, alice, aliceDh.publicKey, TS);
    expect(out).toMatchObject({ topic: t.key(alice.userId), qos: 1, retain: true });
    expect(out.envelope).toMatchObject({ v: 1, t: 'key', from: alice.userId, ts: TS, dh: aliceDh.publicKey });
    const decoded = await decodeEnvelope(out.topic, out.payload);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(checkKeyAnnouncement(out.topic, decoded.envelope, alice.userId)).toBe(true);
    expect(await readKeyAnnouncement(DEFAULT_PREFIX, out.topic, out.payload)).toEqual(out.envelope);
  });

  it('lets a user announce only their own key: a forged from on someone else topic is refused (DM-1)', async () => {
    // Mallory signs, validly, an announcement of her key on Alice's key topic.
    const topic = t.key(alice.userId);
    const forged = await signEnvelope<Envelope & { t: 'key' }>(mallory, topic, {
      v: 1,
      t: 'key',
      from: mallory.userId,
      ts: TS,
      dh: carolDh.publicKey,
    });
    const decoded = await decodeEnvelope(topic, encodeEnvelope(forged));
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(checkKeyAnnouncement(topic, decoded.envelope, alice.userId)).toBe(false);
    expect(await readKeyAnnouncement(DEFAULT_PREFIX, topic, encodeEnvelope(forged))).toBeUndefined();
    // Claiming from Alice with Mallory's signature fails the signature instead.
    const claimed = encodeEnvelope({ ...forged, from: alice.userId });
    expect(await readKeyAnnouncement(DEFAULT_PREFIX, topic, claimed)).toBeUndefined();
    // Alice's genuine announcement replayed on Mallory's topic does not verify there.
    const genuine = await makeKeyAnnouncement(t, alice, aliceDh.publicKey, TS);
    expect(await readKeyAnnouncement(DEFAULT_PREFIX, t.key(mallory.userId), genuine.payload)).toBeUndefined();
  });

  it('refuses other envelope types and non-canonical keys as announcements (DM-1)', async () => {
    const { topic, envelope } = await buildMessage(t, alice);
    expect(checkKeyAnnouncement(topic, envelope, alice.userId)).toBe(false);
    // 43 characters carry 258 bits for 32 bytes; a set spare bit must not name the same key twice.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = ALPHABET.indexOf(aliceDh.publicKey.at(-1)!);
    const stray = aliceDh.publicKey.slice(0, -1) + ALPHABET[last + 1]!;
    expect(isDhPublicKey(aliceDh.publicKey)).toBe(true);
    expect(isDhPublicKey(stray)).toBe(false);
    await expect(makeKeyAnnouncement(t, alice, 'short', TS)).rejects.toThrow();
  });

  it('compares a remembered key with an announced one, trust on first use (DM-1)', () => {
    expect(compareKnownKey(undefined, aliceDh.publicKey)).toBe('new');
    expect(compareKnownKey(aliceDh.publicKey, aliceDh.publicKey)).toBe('same');
    expect(compareKnownKey(aliceDh.publicKey, bobDh.publicKey)).toBe('changed');
  });
});

describe('sealed direct messages (DM-2..DM-5)', () => {
  it('round-trips Alice to Bob, and Alice reads her own copy from her inbox (DM-3, DM-4)', async () => {
    const outs = await send();
    expect(outs.map((out) => out.topic)).toEqual([t.dm(bob.userId, ID), t.dm(alice.userId, ID)]);
    for (const out of outs) expect(out).toMatchObject({ qos: 1, retain: true });

    const bobs = await bobOpens(outs[0]!.payload);
    expect(bobs).toEqual({ ok: true, envelope: outs[0]!.envelope });
    expect(bobs.ok && bobs.envelope).toMatchObject({
      from: alice.userId,
      to: bob.userId,
      text: TEXT,
      id: ID,
    });

    const own = await open(t.dm(alice.userId, ID), alice.userId, ID, outs[1]!.payload, aliceDh);
    expect(own).toEqual({ ok: true, envelope: outs[0]!.envelope });
  });

  it('seals a note to self once, into the sender own inbox (DM-4)', async () => {
    const outs = await send({ to: alice, toDh: aliceDh });
    expect(outs).toHaveLength(1);
    expect(outs[0]!.topic).toBe(t.dm(alice.userId, ID));
    expect((await open(outs[0]!.topic, alice.userId, ID, outs[0]!.payload, aliceDh)).ok).toBe(true);
  });

  it('publishes exactly v, t, id, eph, iv, ct as canonical JSON, with no plaintext or sender (DM-2)', async () => {
    const out = await toBob();
    const serialized = new TextDecoder().decode(out.payload);
    expect(Object.keys(outerOf(out)).sort()).toEqual(['ct', 'eph', 'id', 'iv', 't', 'v']);
    expect(serialized).toBe(canonicalJson({ ...out.sealed }));
    expect(out.sealed).toMatchObject({ v: 1, t: 'dm', id: ID });
    expect(out.sealed.eph).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(out.sealed.iv).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(serialized).not.toContain(TEXT);
    expect(serialized).not.toContain(alice.userId);
    expect(serialized).not.toContain('Alice');
  });

  it('uses a fresh ephemeral key per copy and the injected randomness for the nonce (DM-3)', async () => {
    const random = (length: number) => new Uint8Array(length).fill(7);
    const outs = await sealDirect({
      topics: t,
      identity: alice,
      to: bob.userId,
      toDhKey: bobDh.publicKey,
      ownDhKey: aliceDh.publicKey,
      id: ID,
      name: 'Alice',
      ts: TS,
      text: TEXT,
      random,
    });
    expect(outs[0]!.sealed.iv).toBe(toBase64url(random(12)));
    expect(outs[0]!.sealed.eph).not.toBe(outs[1]!.sealed.eph);
    expect((await bobOpens(outs[0]!.payload)).ok).toBe(true);
  });

  it('opens a message sealed by an independent implementation of the spec (DM-3)', async () => {
    const inner = await innerFrom(alice);
    const payload = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(inner));
    expect(await bobOpens(payload)).toEqual({ ok: true, envelope: inner });
  });

  it('does not let a third key open Bob copy (DM-3)', async () => {
    const out = await toBob();
    // Carol holding Bob's payload, even on Bob's topic, lacks the key.
    expect(await open(out.topic, bob.userId, ID, out.payload, carolDh)).toEqual({
      ok: false,
      reason: 'decrypt',
    });
    // Alice cannot read the recipient's copy either: her copy is sealed separately.
    expect(await open(out.topic, bob.userId, ID, out.payload, aliceDh)).toEqual({
      ok: false,
      reason: 'decrypt',
    });
  });

  it('binds the ciphertext to its inbox topic: moved to another inbox or id it fails (DM-3)', async () => {
    const out = await toBob();
    const otherId = await open(t.dm(bob.userId, OTHER_ID), bob.userId, OTHER_ID, out.payload, bobDh);
    expect(otherId).toEqual({ ok: false, reason: 'decrypt' });
    const otherPrefix = topics('elsewhere').dm(bob.userId, ID);
    expect(await open(otherPrefix, bob.userId, ID, out.payload, bobDh)).toEqual({
      ok: false,
      reason: 'decrypt',
    });
    // Bob, who can read it, re-sealing it into Carol's inbox: the owner is neither to nor from.
    const inner = await innerFrom(alice);
    const moved = await sealRaw(t.dm(carol.userId, ID), ID, carolDh.publicKey, encodeEnvelope(inner));
    expect(await open(t.dm(carol.userId, ID), carol.userId, ID, moved, carolDh)).toEqual({
      ok: false,
      reason: 'binding',
    });
  });

  it('rejects a tampered ciphertext, nonce or ephemeral key (DM-3)', async () => {
    const out = await toBob();
    for (const field of ['ct', 'iv', 'eph'] as const) {
      const payload = withOuter(out, (outer) => {
        outer[field] = flip(outer[field] as string);
      });
      expect(await bobOpens(payload), field).toEqual({ ok: false, reason: 'decrypt' });
    }
    const truncated = withOuter(out, (outer) => {
      outer.ct = (outer.ct as string).slice(0, -4);
    });
    expect(await bobOpens(truncated)).toEqual({ ok: false, reason: 'decrypt' });
  });

  it('rejects a low-order ephemeral key without throwing, and refuses to seal to one (DM-3, DM-5)', async () => {
    const out = await toBob();
    const zero = toBase64url(new Uint8Array(32));
    expect(await bobOpens(withOuter(out, (outer) => void (outer.eph = zero)))).toEqual({
      ok: false,
      reason: 'decrypt',
    });
    await expect(send({ toDh: { publicKey: zero, privateKey: bobDh.privateKey } })).rejects.toThrow();
  });

  it('rejects an inner envelope signed by Mallory that claims to be from Alice (DM-3)', async () => {
    const forged = await innerFrom({ ...mallory, userId: alice.userId });
    expect(forged.from).toBe(alice.userId);
    const payload = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(forged));
    expect(await bobOpens(payload)).toEqual({ ok: false, reason: 'signature' });
  });

  it('rejects an inner envelope signed for another pseudo-topic (DM-3)', async () => {
    const unsigned = {
      v: 1,
      t: 'dmi',
      id: ID,
      from: alice.userId,
      to: bob.userId,
      name: 'Alice',
      ts: TS,
      text: TEXT,
    };
    const roomSigned = await signEnvelope<DirectEnvelope>(alice, t.dm(bob.userId, ID), unsigned as never);
    const payload = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(roomSigned));
    expect(await bobOpens(payload)).toEqual({ ok: false, reason: 'signature' });
  });

  it('rejects an envelope addressed to Carol but sealed into Bob inbox (DM-5)', async () => {
    const toCarol = await innerFrom(alice, { to: carol.userId });
    const payload = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(toCarol));
    expect(await bobOpens(payload)).toEqual({ ok: false, reason: 'binding' });
  });

  it('rejects mismatched ids between the inner envelope, the outer object and the topic (DM-5)', async () => {
    const innerOther = await innerFrom(alice, { id: OTHER_ID });
    const payload = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(innerOther));
    expect(await bobOpens(payload)).toEqual({ ok: false, reason: 'binding' });

    const outerOther = withOuter(await toBob(), (outer) => void (outer.id = OTHER_ID));
    expect(await bobOpens(outerOther)).toEqual({ ok: false, reason: 'binding' });

    // The caller's parsed owner/id must describe the topic the payload arrived on.
    const out = await toBob();
    expect(await open(out.topic, alice.userId, ID, out.payload, bobDh)).toEqual({
      ok: false,
      reason: 'binding',
    });
  });

  it('rejects a sealed plaintext that is not a direct envelope (DM-5)', async () => {
    const { envelope } = await buildMessage(t, alice, { id: ID });
    const room = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, encodeEnvelope(envelope));
    expect(await bobOpens(room)).toEqual({ ok: false, reason: 'schema' });
    const garbage = await sealRaw(t.dm(bob.userId, ID), ID, bobDh.publicKey, utf8('not json'));
    expect(await bobOpens(garbage)).toEqual({ ok: false, reason: 'json' });
  });

  it('rejects malformed outer payloads with a reason and never throws (DM-5)', async () => {
    const out = await toBob();
    const sealed: SealedDirect = out.sealed;
    const json = canonicalJson({ ...sealed });
    expect(await bobOpens(new Uint8Array([0xff, 0xfe, 0x00, 0x9c, 0x42]))).toEqual({
      ok: false,
      reason: 'utf8',
    });
    expect(await bobOpens(utf8('{"v":1,'))).toEqual({ ok: false, reason: 'json' });
    expect(await bobOpens(new Uint8Array(DM_MAX_BYTES + 1))).toEqual({ ok: false, reason: 'oversize' });

    const { ct: _ct, ...missing } = sealed;
    const schemaCases: unknown[] = [
      missing,
      { ...sealed, extra: 1 },
      { ...sealed, from: alice.userId },
      { ...sealed, v: 2 },
      { ...sealed, t: 'dmi' },
      { ...sealed, id: ID.toUpperCase() },
      { ...sealed, eph: sealed.eph.slice(1) },
      { ...sealed, iv: toBase64url(new Uint8Array(16)) },
      { ...sealed, ct: '' },
      { ...sealed, ct: 'AAAA' },
      { ...sealed, ct: `${sealed.ct}=` },
      { ...sealed, ct: 12 },
      [sealed],
      null,
      'dm',
      42,
    ];
    for (const value of schemaCases) {
      expect(await bobOpens(utf8(JSON.stringify(value))), JSON.stringify(value)).toEqual({
        ok: false,
        reason: 'schema',
      });
    }
    // JSON.parse makes `__proto__` an own key; it must count as unknown, not reach Object.prototype.
    const proto = utf8(json.replace('{', '{"__proto__":{"admin":true},'));
    const protoOnly = utf8(json.replace('"ct":', '"__proto__":'));
    const ctor = utf8(json.replace('{', '{"constructor":1,'));
    for (const payload of [proto, protoOnly, ctor])
      expect(await bobOpens(payload)).toEqual({ ok: false, reason: 'schema' });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();

    // Random bytes (seeded, so the case is the same every run) are rejected one way or another.
    let seed = 42;
    const noise = Uint8Array.from(
      { length: 512 },
      () => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 24,
    );
    const noisy = await bobOpens(noise);
    expect(noisy.ok).toBe(false);
  });
});
