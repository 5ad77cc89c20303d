import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scrypt as scryptCallback, type BinaryLike, type ScryptOptions } from 'node:crypto';
import { FlexiError } from '../core/errors.js';

/**
 * The cryptography of chats encrypted at rest: AES-256-GCM for every value, keys derived with
 * scrypt from what the user knows (password, recovery key) and with HKDF from the session's
 * cookie value. Sealed values are text, so they fit the existing columns:
 * `fx1:<base64 of 12-byte IV | 16-byte tag | ciphertext>`.
 */

export const SEALED_PREFIX = 'fx1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const DATA_KEY_BYTES = 32;

/** scrypt cost: N = 2^15, r 8, p 1 (OWASP's floor; 32 MiB, 50–100 ms per derivation on an idle core; bench:chat-crypto). */
const SCRYPT: ScryptOptions = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SALT_BYTES = 16;

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** Encrypts `plain` under `key`; `context` (e.g. the user id) is bound as associated data. */
export function seal(key: Buffer, plain: string | Buffer, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Decrypts a sealed value; throws when the key or the context is wrong or the value was altered. */
export function openSealed(key: Buffer, sealed: string, context: string): Buffer {
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

export function openSealedText(key: Buffer, sealed: string, context: string): string {
  try {
    return openSealed(key, sealed, context).toString('utf8');
  } catch (error) {
    throw new FlexiError('chats_locked', 'This chat was encrypted with another key: it cannot be opened with this session\'s key.', { cause: error });
  }
}

function scrypt(secret: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, DATA_KEY_BYTES, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/**
 * Wraps the data key under a key derived from a secret (password, recovery key):
 * `<base64 salt>.<sealed data key>`.
 */
export async function wrapWithSecret(dataKey: Buffer, secret: string, context: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return `${salt.toString('base64')}.${seal(await scrypt(secret, salt), dataKey, context)}`;
}

/** The data key, or undefined when the secret is not the one it was wrapped with. */
export async function unwrapWithSecret(wrapped: string, secret: string, context: string): Promise<Buffer | undefined> {
  const dot = wrapped.indexOf('.');
  if (dot < 0) return undefined;
  try {
    return openSealed(await scrypt(secret, Buffer.from(wrapped.slice(0, dot), 'base64')), wrapped.slice(dot + 1), context);
  } catch {
    return undefined;
  }
}

/** A key from a high-entropy secret (a session's 256-bit cookie value): HKDF, no stretching needed. */
export function keyFromToken(token: string, context: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, 'flexi-chat-session', context, DATA_KEY_BYTES));
}

export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/** A recovery key to write down: 32 random bytes as 8 groups of base32-ish letters and digits. */
export function newRecoveryKey(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(40);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  return chars.match(/.{5}/g)!.join('-');
}
