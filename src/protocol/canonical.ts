/**
 * Canonical JSON (PROTOCOL.md rule SIG-2): object keys sorted by UTF-16 code units, no white space,
 * strings escaped as JSON.stringify does, numbers must be safe integers. Two clients that hold the
 * same value produce the same bytes, so a signature made by one verifies in the other.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const canonicalJson = (value: Json): string => {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError('canonical JSON allows safe integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as Json)}`).join(',')}}`;
};
