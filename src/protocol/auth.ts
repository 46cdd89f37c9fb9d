import { utf8 } from './bytes.ts';
import { signBytes, type Identity } from './keys.ts';

/**
 * Key-bound logins for authenticated brokers (PROTOCOL.md rules AUTH-1..AUTH-4): the user name is
 * the user id, the password `<ts>.<sig>` signs the client id and the time, and logs in once.
 */
export const loginCredentials = async (
  identity: Identity,
  clientId: string,
  ts: number,
): Promise<{ username: string; password: string }> => {
  const sig = await signBytes(identity, utf8(`mqchat-login-v1\n${clientId}\n${ts}`));
  return { username: identity.userId, password: `${ts}.${sig}` };
};
