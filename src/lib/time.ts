/** Date and time formatting with cached Intl formatters: a timeline formats hundreds of times. */
const formatters = new Map<string, Intl.DateTimeFormat>();

const formatter = (locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat => {
  const key = `${locale}|${JSON.stringify(options)}`;
  let cached = formatters.get(key);
  if (cached === undefined) formatters.set(key, (cached = new Intl.DateTimeFormat(locale, options)));
  return cached;
};

/** "14:05" or "2:05 PM", as the locale writes a time of day. */
export const shortTime = (ts: number, locale: string): string =>
  formatter(locale, { hour: 'numeric', minute: '2-digit' }).format(ts);

/** The full date and time, for a title attribute. */
export const fullDateTime = (ts: number, locale: string): string =>
  formatter(locale, { dateStyle: 'full', timeStyle: 'medium' }).format(ts);

/** ISO 8601, for `<time datetime>`; empty for timestamps a Date cannot hold. */
export const isoDateTime = (ts: number): string => {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
};

const startOfDay = (ts: number): number => new Date(ts).setHours(0, 0, 0, 0);

export const sameDay = (a: number, b: number): boolean => startOfDay(a) === startOfDay(b);

/** "today", "yesterday" (in the locale's words), else a date with weekday, for day dividers. */
export const dayLabel = (ts: number, locale: string, now: number): string => {
  const days = Math.round((startOfDay(ts) - startOfDay(now)) / 86_400_000);
  if (days === 0 || days === -1) {
    return new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(days, 'day');
  }
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return formatter(locale, {
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    ...(!sameYear && { year: 'numeric' }),
  }).format(ts);
};
