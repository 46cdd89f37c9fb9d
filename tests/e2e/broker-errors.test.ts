import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openApp, type Person } from '../helpers/browser.ts';
import { freePort, startMosquitto } from '../helpers/mosquitto.ts';
import { tempDir } from '../helpers/real.ts';
import { serveStatic } from '../helpers/static-server.ts';

let browser: Browser;
let site: Awaited<ReturnType<typeof serveStatic>>;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [browser, site] = await Promise.all([launchChromium(), serveStatic('dist', '/mqchat/')]);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  await browser?.close();
  await site?.close();
});

const fill = async (person: Person, broker: string) => {
  await person.page.getByLabel('Name', { exact: true }).fill('Alice');
  await person.page.getByLabel('Room', { exact: true }).fill('lobby');
  await person.page.getByLabel('Broker URL', { exact: true }).fill(broker);
  await person.page.getByRole('button', { name: 'Join' }).click();
};

const done = async (person: Person) => {
  expect(person.errors, person.errors.join('\n')).toEqual([]);
  await person.context.close();
};

describe('every broker error shows a human message, never a blank page (CONN-1)', () => {
  it('a URL that is not ws:// or wss://', async () => {
    const person = await openApp(browser, site.url);
    await fill(person, 'http://broker.example');
    await person.page.getByText('Enter a ws:// or wss:// URL').waitFor();
    await done(person);
  });

  it('an unreachable broker', async () => {
    const port = await freePort();
    const person = await openApp(browser, site.url);
    await fill(person, `ws://127.0.0.1:${port}`);
    await person.page
      .getByRole('status')
      .getByText(`Cannot reach the broker at ws://127.0.0.1:${port}`)
      .waitFor();
    await done(person);
  });

  it('a broker that refuses anonymous users', async () => {
    const mosquitto = await startMosquitto({ users: { admin: 'secret' } });
    cleanup.push(() => mosquitto.close());
    const person = await openApp(browser, site.url);
    await fill(person, mosquitto.urls.ws);
    await person.page.getByRole('status').getByText('The broker refused the user name or password').waitFor();
    await done(person);
  });

  it('ws:// from an https page (mixed content)', async () => {
    const { dir, remove } = await tempDir();
    cleanup.push(remove);
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ]),
      { stdio: 'ignore' },
    );
    const https = await serveStatic('dist', '/mqchat/', {
      key: readFileSync(key, 'utf8'),
      cert: readFileSync(cert, 'utf8'),
    });
    cleanup.push(() => https.close());
    const person = await openApp(browser, https.url);
    await fill(person, 'ws://broker.example:8888');
    await person.page.getByText('wss://', { exact: false }).first().waitFor();
    expect(await person.page.getByText(/https.*wss:\/\//).count()).toBeGreaterThan(0);
    // Browsers refuse service workers from an untrusted (self-signed) certificate: test setup only.
    const certificate = /SSL certificate error occurred when fetching the script/;
    person.errors.splice(0, person.errors.length, ...person.errors.filter((e) => !certificate.test(e)));
    await done(person);
  });
});
