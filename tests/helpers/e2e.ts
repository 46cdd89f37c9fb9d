import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchChromium } from './browser.ts';
import { startMosquitto } from './mosquitto.ts';
import { bundledBroker } from './real.ts';
import { serveStatic } from './static-server.ts';

export interface RunningBroker {
  urls: { mqtt: string; ws: string };
  close(): Promise<void>;
}

/** The brokers every cross-broker suite runs against: ours (MQTT 3.1.1) and Mosquitto (MQTT 5). */
export const realBrokers: [string, () => Promise<RunningBroker>][] = [
  ['the bundled broker (aedes, MQTT 3.1.1)', () => bundledBroker()],
  ['Mosquitto 2.0 (MQTT 5)', () => startMosquitto()],
];

/**
 * Chromium and the production build served from /mqchat/ (as GitHub Pages serves a project), for
 * one test file: started before its tests, closed after them.
 */
export const useBrowserAndSite = () => {
  const env = {} as { browser: Browser; url: string };
  let site: Awaited<ReturnType<typeof serveStatic>> | undefined;
  beforeAll(async () => {
    const [browser, served] = await Promise.all([launchChromium(), serveStatic('dist', '/mqchat/')]);
    site = served;
    Object.assign(env, { browser, url: served.url });
  });
  afterAll(async () => {
    await env.browser?.close();
    await site?.close();
  });
  return env;
};
