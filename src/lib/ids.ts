import { randomFillSync } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Random bytes are drawn from the CSPRNG in 4 KiB batches and each byte is used once: one call
 * per id cost several percent of the gateway's CPU per request (bench/gateway.bench.ts).
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomByte(): number {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  return pool[offset++]!;
}

/** A random id of `length` base62 characters (≈5.95 bits each). */
export function randomId(length = 24): string {
  let out = '';
  while (out.length < length) {
    const b = randomByte();
    // Rejection sampling keeps the distribution uniform: 248 = 62 × 4.
    if (b < 248) out += ALPHABET[b % 62];
  }
  return out;
}
