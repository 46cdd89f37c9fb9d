/**
 * Reconnect policy (PROTOCOL.md rule CONN-2): exponential backoff from 1 s to 30 s with jitter, so a
 * broker restart does not see every client return in the same instant.
 */
export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;

/** Delay before reconnect attempt `attempt` (0-based); `random` in [0, 1) is an input for tests. */
export const backoffDelay = (attempt: number, random: number): number => {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  // "Equal jitter": at least half the ceiling, so attempts still spread out but never bunch at zero.
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
};
