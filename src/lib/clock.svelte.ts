import { createSubscriber } from 'svelte/reactivity';

/**
 * The current time as reactive state that ticks twice a minute, but only while something reads it
 * (createSubscriber starts the timer on first read in an effect and stops it when none is left).
 */
export class Clock {
  readonly #subscribe: () => void;

  constructor(intervalMs = 30_000) {
    this.#subscribe = createSubscriber((update) => {
      const timer = setInterval(update, intervalMs);
      return () => clearInterval(timer);
    });
  }

  get now(): number {
    this.#subscribe();
    return Date.now();
  }
}

export const clock = new Clock();
