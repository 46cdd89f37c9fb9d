import { en, type MessageKey } from './en.ts';
import { ja } from './ja.ts';

export type { MessageKey };
export type Language = 'en' | 'ja';

/** The languages offered by the switch, each named in itself (never translated). */
export const LANGUAGES: readonly { code: Language; name: string }[] = [
  { code: 'en', name: 'English' },
  { code: 'ja', name: '日本語' },
];

const dictionaries: Record<Language, Record<MessageKey, string>> = { en, ja };

export const isMessageKey = (key: string): key is MessageKey => Object.hasOwn(en, key);

export const isLanguage = (value: unknown): value is Language => value === 'en' || value === 'ja';

/** Japanese for any ja* browser language, English otherwise. */
export const detectLanguage = (languages: readonly string[]): Language =>
  languages[0]?.toLowerCase().startsWith('ja') ? 'ja' : 'en';

/** Fills `{name}` placeholders; unknown placeholders stay as they are, so a mistake is visible. */
export const format = (template: string, vars: Record<string, string | number> = {}): string =>
  template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));

/** The current UI language as reactive state; reading `t()` in a template re-renders on a switch. */
export class Locale {
  lang = $state<Language>('en');
  /** The browser's own locale when it matches the UI language, for date formats (en-GB keeps 24 h). */
  readonly #browser: string;

  constructor(lang: Language = 'en', browserLocale = 'en') {
    this.lang = lang;
    this.#browser = browserLocale;
  }

  /** Locale for Intl formatters: the browser's when it speaks the UI language, else the UI language. */
  get dateLocale(): string {
    return this.#browser.toLowerCase().startsWith(this.lang) ? this.#browser : this.lang;
  }

  t = (key: MessageKey, vars?: Record<string, string | number>): string =>
    format(dictionaries[this.lang][key], vars);
}

const browserLanguages = typeof navigator === 'undefined' ? [] : navigator.languages;

/** The page's one locale. */
export const locale = new Locale(detectLanguage(browserLanguages), browserLanguages[0] ?? 'en');

export const t = locale.t;
