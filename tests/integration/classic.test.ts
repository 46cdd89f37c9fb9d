import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/fixtures.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { bundledBroker, joinedReal } from '../helpers/real.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

/** The origin's paho terminal chat, run with Debian's python3-paho-mqtt. */
const terminal = (mqttUrl: string, room: string, name: string) => {
  const { hostname, port } = new URL(mqttUrl);
  const child = spawn('/usr/bin/python3', ['tests/interop/paho_chat.py', hostname, port, room, name]);
  const lines: string[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanup.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  return {
    lines,
    stderr: () => stderr,
    say: (text: string) => child.stdin.write(`${text}\n`),
  };
};

const brokers: [string, () => Promise<{ urls: { mqtt: string; ws: string }; close(): Promise<void> }>][] = [
  ['bundled aedes', () => bundledBroker()],
  ['Mosquitto', () => startMosquitto()],
];

describe.each(brokers)(
  'the classic bridge with the paho terminal chat through %s (CLASSIC-1..4)',
  (_n, start) => {
    it('exchanges messages both ways, marked unverified, own messages filtered', async () => {
      const broker = await start();
      cleanup.push(() => broker.close());
      const web = await joinedReal(broker.urls.ws, 'Web Alice', 'lobby');
      cleanup.push(() => web.client.close());
      await web.client.setClassic('lobby', true);
      const paho = terminal(broker.urls.mqtt, 'lobby', 'taro');
      await until(() => paho.lines.includes('READY'), 'paho ready', 10_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${paho.stderr()}`);
      });
      paho.say('こんにちは from the terminal');
      await until(
        () => [...web.seen.values()].some((m) => m.text === 'こんにちは from the terminal'),
        'web receives',
      );
      const received = [...web.seen.values()].find((m) => m.classic);
      expect(received).toMatchObject({ name: 'taro', from: 'classic:taro', classic: true });
      await web.client.send('lobby', 'hello terminal');
      await until(() => paho.lines.some((l) => l.endsWith('Web_Alice: hello terminal')), 'terminal receives');
      // The web app filters its own classic copy: the message shows once, signed.
      await web.client.idle();
      expect([...web.seen.values()].filter((m) => m.text === 'hello terminal')).toHaveLength(1);
      expect(paho.lines.filter((l) => l.includes('こんにちは'))).toEqual([]);
    });
  },
);
