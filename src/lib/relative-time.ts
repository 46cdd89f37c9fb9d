/**
 * How long ago something happened, for "2 min ago" labels. The words come from i18n; this only
 * decides the unit. Past six hours the time of day reads better (day dividers give the date).
 */
export type Ago = { unit: 'now' } | { unit: 'minutes' | 'hours'; count: number } | { unit: 'time' };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const ago = (ts: number, now: number): Ago => {
  const elapsed = now - ts;
  // A sender's clock may run ahead of ours by up to a minute (rule MSG-5): that is "now" too.
  if (elapsed < MINUTE) return { unit: 'now' };
  if (elapsed < HOUR) return { unit: 'minutes', count: Math.floor(elapsed / MINUTE) };
  if (elapsed < 6 * HOUR) return { unit: 'hours', count: Math.floor(elapsed / HOUR) };
  return { unit: 'time' };
};
