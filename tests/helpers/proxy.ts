import { createServer, connect, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a broker port, for fault injection: `cut()` destroys every
 * connection through it (a network failure: no DISCONNECT, so the broker publishes wills) and
 * `block()` refuses new ones until `unblock()`.
 */
export const startProxy = async (target: string) => {
  const { hostname, port: targetPort } = new URL(target);
  const pairs = new Set<[Socket, Socket]>();
  let blocked = false;
  const server = createServer((inbound) => {
    if (blocked) return inbound.destroy();
    const outbound = connect(Number(targetPort), hostname);
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const scheme = new URL(target).protocol;
  return {
    url: `${scheme}//127.0.0.1:${port}`,
    get connections() {
      return pairs.size;
    },
    cut() {
      for (const [inbound, outbound] of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      pairs.clear();
    },
    block() {
      blocked = true;
    },
    unblock() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [inbound, outbound] of pairs) {
          inbound.destroy();
          outbound.destroy();
        }
        server.close(() => resolve());
      }),
  };
};
