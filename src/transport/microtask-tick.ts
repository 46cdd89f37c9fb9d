/**
 * MQTT.js in the browser runs on Node's `process` polyfill (process/browser.js, injected by the build,
 * vite.config.ts), whose `nextTick` waits for a timer. mqtt-packet writes every packet with
 * cork(), then uncork() on the next tick, so each publish waited for a timer task: behind whatever the
 * page renders first, several milliseconds per message. A microtask is what Node's nextTick is: the
 * packet leaves as soon as the current job ends. Imported for its effect, before MQTT.js.
 */
// @ts-expect-error -- the polyfill ships no types; it is the object the build injects as `process`.
import process from 'process/browser.js';

const polyfill = process as {
  nextTick: (callback: (...args: unknown[]) => void, ...args: unknown[]) => void;
};
polyfill.nextTick = (callback, ...args) => queueMicrotask(() => callback(...args));
