import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random id of `length` base62 characters (≈5.95 bits each). */
export function randomId(length = 24): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    const b = bytes[i]!;
    // Rejection sampling keeps the distribution uniform: 248 = 62 × 4.
    if (b < 248) out += ALPHABET[b % 62];
  }
  return out.length === length ? out : out + randomId(length - out.length);
}
