import { encodeEnvelope, signEnvelope, type MessageEnvelope } from '../../src/protocol/envelope.ts';
import type { Identity } from '../../src/protocol/keys.ts';
import type { Topics } from '../../src/protocol/topics.ts';

/** A signed room message with partial overrides, for tests (nostr-tools' buildEvent style). */
export const buildMessage = async (
  topics: Topics,
  identity: Identity,
  overrides: Partial<Omit<MessageEnvelope, 'sig'>> & { room?: string; page?: number } = {},
) => {
  const { room = 'lobby', page = 0, ...fields } = overrides;
  const id = fields.id ?? '0123456789abcdef0123456789abcdef';
  const topic = topics.message(room, page, id);
  const envelope = await signEnvelope<MessageEnvelope>(identity, topic, {
    v: 1,
    t: 'msg',
    id,
    from: identity.userId,
    name: 'Alice',
    ts: 1_700_000_000_000,
    text: 'hello',
    ...fields,
  });
  return { topic, envelope, payload: encodeEnvelope(envelope) };
};
