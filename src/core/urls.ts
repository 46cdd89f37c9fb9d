/** Broker URL validation (PROTOCOL.md rule CONN-1), shared by the join form and the transport. */
export type BrokerUrlResult =
  { ok: true; url: string } | { ok: false; error: 'invalid-url' | 'mixed-content' };

/**
 * Accepts ws:// and wss:// URLs with a host. `pageProtocol` is the page's `location.protocol`: an
 * https page cannot open ws:// sockets (mixed content), except to localhost, which browsers allow.
 */
export const checkBrokerUrl = (input: string, pageProtocol?: string): BrokerUrlResult => {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return { ok: false, error: 'invalid-url' };
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.hostname === '') {
    return { ok: false, error: 'invalid-url' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, error: 'invalid-url' };
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (pageProtocol === 'https:' && url.protocol === 'ws:' && !local)
    return { ok: false, error: 'mixed-content' };
  return { ok: true, url: url.href };
};
