/**
 * Splits message text into plain text, links and @mentions, so components can render each as text
 * nodes and elements: message text is never HTML (rule MSG-3), and nothing here returns markup.
 */
export type Token =
  | { kind: 'text'; text: string }
  | { kind: 'link'; text: string; href: string }
  | { kind: 'mention'; text: string; name: string };

/**
 * A URL runs until white space, quotes, angle brackets or CJK punctuation: "見て https://x.org。"
 * must not swallow the full stop.
 */
const URL_PATTERN = /https?:\/\/[^\s<>"'`\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+/giu;
const TRAILING = /[.,:;!?*_~]$/u;
const CLOSERS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const WORD = /[\p{L}\p{N}\p{M}_]/u;
const MENTION_WORD = /^[\p{L}\p{N}\p{M}_.-]*[\p{L}\p{N}\p{M}_]/u;

const count = (text: string, char: string): number => text.split(char).length - 1;

/** Drops trailing punctuation that belongs to the sentence, and unbalanced closing brackets. */
const trimUrl = (raw: string): string => {
  let url = raw;
  for (;;) {
    const last = url.at(-1) ?? '';
    const opener = CLOSERS[last];
    if (TRAILING.test(last)) url = url.slice(0, -1);
    else if (opener !== undefined && count(url, last) > count(url, opener)) url = url.slice(0, -1);
    else return url;
  }
};

/** The link target when `raw` is a well-formed http or https URL; anything else stays text. */
export const safeHref = (raw: string): string | undefined => {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
};

const pushText = (tokens: Token[], text: string): void => {
  if (text === '') return;
  const last = tokens.at(-1);
  if (last?.kind === 'text') last.text += text;
  else tokens.push({ kind: 'text', text });
};

/** True when the characters at `at` spell `name` (ignoring case) and do not run on into a word. */
const nameAt = (text: string, at: number, name: string): boolean =>
  name !== '' &&
  text.slice(at, at + name.length).toLocaleLowerCase() === name.toLocaleLowerCase() &&
  !WORD.test(text.charAt(at + name.length));

/** @mentions in plain text: a known name (longest first, may hold spaces), else one word. */
const tokenizeMentions = (tokens: Token[], text: string, names: readonly string[]): void => {
  let plain = 0;
  for (let i = text.indexOf('@'); i !== -1; i = text.indexOf('@', i + 1)) {
    // "a@b.org" is an address, not a mention.
    if (i > 0 && WORD.test(text.charAt(i - 1))) continue;
    const known = names.find((name) => nameAt(text, i + 1, name));
    const name = known ?? MENTION_WORD.exec(text.slice(i + 1))?.[0];
    if (name === undefined) continue;
    const end = i + 1 + name.length;
    pushText(tokens, text.slice(plain, i));
    tokens.push({ kind: 'mention', text: text.slice(i, end), name: known ?? name });
    plain = end;
    i = end - 1;
  }
  pushText(tokens, text.slice(plain));
};

/**
 * Tokenizes `text`. `names` are display names that may be mentioned (mine and the people around);
 * they are matched longest first, so "@Carol Smith" wins over "@Carol".
 */
export const tokenize = (text: string, names: readonly string[] = []): Token[] => {
  const sorted = [...new Set(names)].sort((a, b) => b.length - a.length);
  const tokens: Token[] = [];
  let plain = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = trimUrl(match[0]);
    const href = safeHref(raw);
    if (href === undefined) continue;
    tokenizeMentions(tokens, text.slice(plain, match.index), sorted);
    tokens.push({ kind: 'link', text: raw, href });
    plain = match.index + raw.length;
  }
  tokenizeMentions(tokens, text.slice(plain), sorted);
  return tokens;
};

/** True when `text` mentions `name` (case-insensitive), outside links. */
export const mentions = (text: string, name: string): boolean =>
  name !== '' &&
  tokenize(text, [name]).some(
    (token) => token.kind === 'mention' && token.name.toLocaleLowerCase() === name.toLocaleLowerCase(),
  );
