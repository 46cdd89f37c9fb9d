// Generic helpers of the web app (src/lib): text tokenizing, emoji shortcodes, relative times, colours.
import { describe, expect, it } from 'vitest';
import { replaceShortcodes, SHORTCODES } from '../../src/lib/emoji.ts';
import { excerpt } from '../../src/lib/excerpt.ts';
import { HUES, hueOf } from '../../src/lib/hue.ts';
import { ago } from '../../src/lib/relative-time.ts';
import { mentions, safeHref, tokenize } from '../../src/lib/tokenize.ts';

describe('tokenize', () => {
  it('keeps plain text as one token', () => {
    expect(tokenize('hello <b>world</b>')).toEqual([{ kind: 'text', text: 'hello <b>world</b>' }]);
  });

  it('links http and https URLs, leaving sentence punctuation and unbalanced brackets outside', () => {
    expect(tokenize('see https://example.org/a?b=1. and (http://x.org/y) ok')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.org/a?b=1', href: 'https://example.org/a?b=1' },
      { kind: 'text', text: '. and (' },
      { kind: 'link', text: 'http://x.org/y', href: 'http://x.org/y' },
      { kind: 'text', text: ') ok' },
    ]);
    expect(tokenize('https://en.wikipedia.org/wiki/Foo_(bar)!')[0]).toEqual({
      kind: 'link',
      text: 'https://en.wikipedia.org/wiki/Foo_(bar)',
      href: 'https://en.wikipedia.org/wiki/Foo_(bar)',
    });
    expect(tokenize('見て https://example.jp/ページ。')).toEqual([
      { kind: 'text', text: '見て ' },
      {
        kind: 'link',
        text: 'https://example.jp/ページ',
        href: 'https://example.jp/%E3%83%9A%E3%83%BC%E3%82%B8',
      },
      { kind: 'text', text: '。' },
    ]);
  });

  it('never links other schemes', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,x', 'ftp://x.org', 'www.example.org'])
      expect(tokenize(text)).toEqual([{ kind: 'text', text }]);
    expect(safeHref('javascript:alert(1)')).toBeUndefined();
    expect(safeHref('https://')).toBeUndefined();
  });

  it('finds mentions of known names (longest first, with spaces) and of single words', () => {
    expect(tokenize('hi @carol smith and @Bob, not a@b.org', ['Carol', 'Carol Smith', 'Bob'])).toEqual([
      { kind: 'text', text: 'hi ' },
      { kind: 'mention', text: '@carol smith', name: 'Carol Smith' },
      { kind: 'text', text: ' and ' },
      { kind: 'mention', text: '@Bob', name: 'Bob' },
      { kind: 'text', text: ', not a@b.org' },
    ]);
    expect(tokenize('@dave.', [])).toEqual([
      { kind: 'mention', text: '@dave', name: 'dave' },
      { kind: 'text', text: '.' },
    ]);
    expect(tokenize('@Bobby', ['Bob'])).toEqual([{ kind: 'mention', text: '@Bobby', name: 'Bobby' }]);
    expect(tokenize('an @ alone')).toEqual([{ kind: 'text', text: 'an @ alone' }]);
  });

  it('tells whether a text mentions a name, outside links', () => {
    expect(mentions('ping @alice!', 'Alice')).toBe(true);
    expect(mentions('ping @alicia', 'Alice')).toBe(false);
    expect(mentions('https://x.org/@alice', 'Alice')).toBe(false);
    expect(mentions('@花子 さん', '花子')).toBe(true);
  });

  it('loses no character', () => {
    const text = 'a https://x.org/(b) @c d@e :) https://y.org.';
    expect(
      tokenize(text, ['c'])
        .map((token) => token.text)
        .join(''),
    ).toBe(text);
  });
});

describe('emoji shortcodes', () => {
  it('replaces known codes and leaves the rest', () => {
    expect(replaceShortcodes(':+1: :thumbsup: :heart: :tada: at 10:30:00 :nope:')).toBe(
      '👍 👍 ❤️ 🎉 at 10:30:00 :nope:',
    );
    for (const code of ['smile', 'joy', 'pray', 'cry', 'fire', 'wave', 'eyes'])
      expect(SHORTCODES[code]).toBeTruthy();
    expect(Object.keys(SHORTCODES).length).toBeGreaterThanOrEqual(30);
  });
});

describe('relative times', () => {
  const now = 1_700_000_000_000;
  it('says now, minutes, hours, then the time of day', () => {
    expect(ago(now - 10_000, now)).toEqual({ unit: 'now' });
    expect(ago(now + 30_000, now)).toEqual({ unit: 'now' });
    expect(ago(now - 2 * 60_000 - 5, now)).toEqual({ unit: 'minutes', count: 2 });
    expect(ago(now - 3 * 3_600_000, now)).toEqual({ unit: 'hours', count: 3 });
    expect(ago(now - 7 * 3_600_000, now)).toEqual({ unit: 'time' });
  });
});

describe('small helpers', () => {
  it('gives each user id a stable colour bucket', () => {
    expect(hueOf('abc')).toBe(hueOf('abc'));
    const buckets = new Set(Array.from({ length: 200 }, (_, i) => hueOf(`user-${i}`)));
    expect(buckets.size).toBe(HUES);
  });

  it('cuts excerpts to one line', () => {
    expect(excerpt('  first line\nsecond')).toBe('first line');
    expect(excerpt('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(excerpt('😀'.repeat(5), 3)).toBe('😀😀…');
  });
});
