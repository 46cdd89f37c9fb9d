import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './real.ts';

const run = (command: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
  });

/** A free TCP port on 127.0.0.1 (the OS picks it; mosquitto cannot bind port 0 itself). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

const waitForPort = async (port: number, timeout = 10_000): Promise<void> => {
  const start = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createServer().listen(port, '127.0.0.1');
      socket.once('listening', () => socket.close(() => resolve(false)));
      socket.once('error', () => resolve(true));
    });
    if (ok) return;
    if (Date.now() - start > timeout) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/**
 * Debian's Mosquitto 2.0 with its default limits (max_queued_messages 1000, no packet limit), a TCP
 * and a WebSocket listener on free loopback ports, anonymous access, persistence in a temp dir.
 */
export const startMosquitto = async (options: { users?: Record<string, string> } = {}) => {
  const { dir, remove } = await tempDir();
  // Mosquitto started as root drops to its own user, which must be able to read the config dir.
  await chmod(dir, 0o755);
  const passwords = join(dir, 'passwords');
  if (options.users !== undefined) {
    for (const [user, password] of Object.entries(options.users)) {
      await run('/usr/bin/mosquitto_passwd', [
        ...(Object.keys(options.users)[0] === user ? ['-c'] : []),
        '-b',
        passwords,
        user,
        password,
      ]);
    }
  }
  // A free port can be taken by a parallel test between freePort() and Mosquitto's bind: then pick
  // other ports. Any other failure is reported at once.
  for (let attempt = 1; ; attempt++) {
    const [port, wsPort] = [await freePort(), await freePort()];
    const config = join(dir, 'mosquitto.conf');
    await writeFile(
      config,
      [
        ...(options.users === undefined
          ? ['allow_anonymous true']
          : ['allow_anonymous false', `password_file ${passwords}`]),
        'persistence false',
        `listener ${port} 127.0.0.1`,
        `listener ${wsPort} 127.0.0.1`,
        'protocol websockets',
        '',
      ].join('\n'),
    );
    const child = spawn('/usr/sbin/mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await Promise.all([waitForPort(port), waitForPort(wsPort)]);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3 && /Unable to create|Address already in use/.test(stderr)) continue;
      throw new Error(`${(error as Error).message}\n${stderr}`, { cause: error });
    }
    return {
      urls: { mqtt: `mqtt://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${wsPort}` },
      close: async () => {
        child.kill('SIGTERM');
        await exited;
        await remove();
      },
    };
  }
};
