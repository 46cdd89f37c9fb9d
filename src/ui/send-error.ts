import type { SendError } from '../core/chat-client.ts';
import { isMessageKey, t } from '../lib/i18n/index.svelte.ts';

/** Words for a refused send or edit; the core may learn new refusals before this file does. */
export const sendErrorText = (code: SendError | 'error'): string => {
  const key = `composer.error.${code}`;
  return isMessageKey(key) ? t(key) : t('composer.error.other', { error: code });
};
