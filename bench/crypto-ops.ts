// The crypto loops, written once: run.ts calls them in Node, and crypto.ts bundles this file for
// Chromium, so both measure the very same src/protocol code. No Node or DOM APIs beyond WebCrypto.
import { generateDhKeyPair } from '../src/protocol/dh.ts';
import { openDirect, sealDirect } from '../src/protocol/dms.ts';
import {
  signEnvelope,
  verifyEnvelope,
  type MessageEnvelope,
  type Unsigned,
} from '../src/protocol/envelope.ts';
import { makeMessageId, randomBytes } from '../src/protocol/ids.ts';
import { generateIdentity } from '../src/protocol/keys.ts';
import { topics } from '../src/protocol/topics.ts';

export const OPERATIONS = ['keygen', 'sign', 'verify', 'seal', 'open'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Operations per second, one awaited at a time and `parallel` at a time. */
export type CryptoRates = Record<Operation, { serial: number; parallel: number }>;

/** A typical chat line: 40 characters. */
export const TEXT_40 = 'See you at the station at 6, bring tea!!';

const now = () => performance.now();

/** Calls `op` for about `budgetMs`, `width` at a time; returns operations per second. */
const rate = async (op: () => Promise<unknown>, budgetMs: number, width: number): Promise<number> => {
  let count = 0;
  const start = now();
  while (now() - start < budgetMs) {
    if (width === 1) await op();
    else await Promise.all(Array.from({ length: width }, op));
    count += width;
  }
  return (count / (now() - start)) * 1000;
};

export const runCryptoOps = async (budgetMs: number, parallel = 64): Promise<CryptoRates> => {
  const t = topics();
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const [aliceDh, bobDh] = [await generateDhKeyPair(), await generateDhKeyPair()];
  const room = 'general';
  const id = makeMessageId(randomBytes);
  const topic = t.message(room, 3, id);
  const unsigned: Unsigned<MessageEnvelope> = {
    v: 1,
    t: 'msg',
    from: alice.userId,
    ts: Date.now(),
    id,
    name: 'Alice',
    text: TEXT_40,
  };
  const signed = await signEnvelope<MessageEnvelope>(alice, topic, unsigned);
  const draft = {
    topics: t,
    identity: alice,
    to: bob.userId,
    toDhKey: bobDh.publicKey,
    ownDhKey: aliceDh.publicKey,
    id,
    name: 'Alice',
    ts: Date.now(),
    text: TEXT_40,
  };
  const [toBob] = await sealDirect(draft);
  if (toBob === undefined) throw new Error('sealDirect returned nothing');
  const sealedInput = {
    topic: toBob.topic,
    owner: bob.userId,
    id,
    payload: toBob.payload,
    dhPrivateKey: bobDh.privateKey,
    dhPublicKey: bobDh.publicKey,
  };
  const opened = await openDirect(sealedInput);
  if (!opened.ok || !(await verifyEnvelope(topic, signed))) throw new Error('crypto round trip failed');

  const ops: Record<Operation, () => Promise<unknown>> = {
    keygen: () => generateIdentity(),
    sign: () => signEnvelope<MessageEnvelope>(alice, topic, unsigned),
    verify: () => verifyEnvelope(topic, signed),
    seal: () => sealDirect(draft),
    open: () => openDirect(sealedInput),
  };
  const rates = {} as CryptoRates;
  for (const name of OPERATIONS) {
    rates[name] = {
      serial: await rate(ops[name], budgetMs, 1),
      parallel: await rate(ops[name], budgetMs, parallel),
    };
  }
  return rates;
};
