import { describe, expect, it } from 'vitest';
import { BROKER_PRESETS, readShareLink, shareLink } from '../../src/core/brokers.ts';
import { checkBrokerUrl } from '../../src/core/urls.ts';

describe('broker presets and share links', () => {
  it('offers valid presets, the public ones on wss and labelled public', () => {
    for (const preset of BROKER_PRESETS) {
      expect(checkBrokerUrl(preset.url, 'https:').ok || preset.id === 'local').toBe(true);
      if (preset.public) expect(preset.url.startsWith('wss://')).toBe(true);
    }
  });

  it('builds a link to a broker and room that never carries credentials', () => {
    const link = shareLink('https://me.github.io/mqchat/?old=1#x', {
      broker: 'wss://user:secret@broker.example:8084/mqtt',
      room: 'lobby',
      prefix: 'acme',
    });
    expect(link).not.toContain('secret');
    expect(link).not.toContain('user');
    expect(readShareLink(new URL(link).search)).toEqual({
      broker: 'wss://broker.example:8084/mqtt',
      room: 'lobby',
      prefix: 'acme',
    });
  });

  it('drops invalid values from a link instead of trusting them', () => {
    expect(readShareLink('?broker=javascript:alert(1)&room=x&prefix=a/%23')).toEqual({ room: 'x' });
  });
});
