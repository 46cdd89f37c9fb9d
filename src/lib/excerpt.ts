/** The first line of `text`, cut at `max` characters (by code point) with an ellipsis. */
export const excerpt = (text: string, max = 80): string => {
  const line = text.trim().split('\n', 1)[0]?.trim() ?? '';
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
};
