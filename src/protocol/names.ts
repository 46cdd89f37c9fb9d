/**
 * Display names and text hygiene (PROTOCOL.md rule NAME-1). Names are chosen by anyone, so bidi
 * overrides and invisible characters, which can disguise one name as another, are removed.
 */
export const NAME_MAX_LENGTH = 40;

// Bidi controls, zero-width characters, BOM, soft hyphen, other C0/C1 controls. Matching control
// and combining characters is the point here, hence the lint exceptions.
const INVISIBLE =
  // eslint-disable-next-line no-control-regex, no-misleading-character-class
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]/g;

const cleanOnce = (input: string): string => {
  const name = input.replace(INVISIBLE, '').normalize('NFC').replace(/\s+/gu, ' ').trim();
  return [...name].slice(0, NAME_MAX_LENGTH).join('').trim();
};

/**
 * Cleans a display name. Receivers check `cleanName(name) === name`, so the result must be a fixed
 * point: removing a character can let NFC compose its neighbours, and cutting can leave a space.
 */
export const cleanName = (input: string): string => {
  let name = cleanOnce(input);
  for (let next = cleanOnce(name); next !== name; next = cleanOnce(name)) name = next;
  return name;
};

/** True when `name` is already clean and non-empty: receivers reject anything else (rule NAME-1). */
export const isCleanName = (name: string): boolean => name.length > 0 && cleanName(name) === name;

/** Message text keeps new lines and tabs but loses other controls and bidi overrides (rule MSG-3). */
// eslint-disable-next-line no-control-regex
const TEXT_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g;

// Controls go first: NFC afterwards composes what they separated, and never creates controls.
export const cleanText = (input: string): string => input.replace(TEXT_CONTROLS, '').normalize('NFC');
