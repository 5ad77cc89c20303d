import { describe, expect, it } from 'vitest';
import { isSealed, keyFromToken, newDataKey, newRecoveryKey, openSealed, openSealedText, seal, unwrapWithSecret, wrapWithSecret } from './chat-crypto.js';

describe('chat crypto', () => {
  it('seals text so that only the same key and context open it, and every value differently', () => {
    const key = newDataKey();
    const sealed = seal(key, 'Grüße, Welt', 'user-1');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('Welt');
    expect(seal(key, 'Grüße, Welt', 'user-1')).not.toBe(sealed);
    expect(openSealedText(key, sealed, 'user-1')).toBe('Grüße, Welt');
    expect(() => openSealed(newDataKey(), sealed, 'user-1')).toThrow();
    // A value copied into another user's row does not open there.
    expect(() => openSealed(key, sealed, 'user-2')).toThrow();
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => openSealed(key, tampered, 'user-1')).toThrow();
  });

  it('wraps a data key with a secret; the wrong secret opens nothing', async () => {
    const key = newDataKey();
    const wrapped = await wrapWithSecret(key, 'a-long-password', 'user-1');
    expect((await unwrapWithSecret(wrapped, 'a-long-password', 'user-1'))?.equals(key)).toBe(true);
    expect(await unwrapWithSecret(wrapped, 'another-password', 'user-1')).toBeUndefined();
    expect(await unwrapWithSecret('garbage', 'a-long-password', 'user-1')).toBeUndefined();
  });

  it('derives a session key from the cookie value, and makes recovery keys to write down', () => {
    expect(keyFromToken('t'.repeat(43), 'u').equals(keyFromToken('t'.repeat(43), 'u'))).toBe(true);
    expect(keyFromToken('t'.repeat(43), 'u').equals(keyFromToken('s'.repeat(43), 'u'))).toBe(false);
    const recovery = newRecoveryKey();
    expect(recovery).toMatch(/^[A-Z2-9]{5}(-[A-Z2-9]{5}){7}$/);
    expect(newRecoveryKey()).not.toBe(recovery);
  });
});
