/**
 * MQTT topic filter matching ([MQTT-4.7]): `+` matches one level, a trailing `#` matches the parent
 * and everything below, and filters starting with a wildcard do not match `$` topics.
 */
export const topicMatches = (filter: string, topic: string): boolean => {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
};

/** [MQTT-4.7.1]: `#` only last and alone in its level, `+` alone in its level, no empty filter. */
export const isValidFilter = (filter: string): boolean => {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every(
    (level, i) =>
      (level === '#' && i === levels.length - 1) ||
      level === '+' ||
      (!level.includes('#') && !level.includes('+')),
  );
};
