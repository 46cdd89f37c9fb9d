/** Number of author colours in app.css (`[data-hue='0']` … `[data-hue='11']`). */
export const HUES = 12;

/**
 * A stable colour bucket for an id (FNV-1a), so two people with the same name also look different.
 * Colours are classes, not inline styles: the site's CSP refuses style attributes.
 */
export const hueOf = (id: string, buckets = HUES): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
};
