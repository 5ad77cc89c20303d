import { jwtVerify, createLocalJWKSet, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { openDatabase, type Store } from '../../store/store.js';
import { ToolKeyService } from './tool-keys.js';

const DAY_MS = 86_400_000;
let store: Store;

beforeEach(async () => {
  store = await openDatabase(':memory:');
  await store.migrate();
});
afterEach(async () => store.close());

describe('ToolKeyService', () => {
  it('makes a key on first use, signs with it, and publishes only its public half', async () => {
    const keys = new ToolKeyService(store.lti, { secret: 'a-secret-of-sixteen+', overlapMs: DAY_MS });
    const { kid, key } = await keys.signingKey();
    const jwks = await keys.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid, alg: 'RS256', use: 'sig', kty: 'RSA' });
    expect(jwks.keys[0]!.d).toBeUndefined();
    const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
    expect((await jwtVerify(token, createLocalJWKSet(jwks))).payload.a).toBe(1);
    // At rest the private key is encrypted: no JWK member of it is in the row.
    const [row] = await store.lti.listKeys();
    expect(row!.privateJwkEncrypted).toMatch(/^v1\./);
    expect(row!.privateJwkEncrypted).not.toContain('"d"');
  });

  it('keeps a rotated-out key published until the overlap ends, then drops it at the next rotation', async () => {
    const clock = new ManualClock();
    const keys = new ToolKeyService(store.lti, { secret: 'a-secret-of-sixteen+', overlapMs: DAY_MS, clock });
    const first = (await keys.signingKey()).kid;
    clock.advance(1000);
    const second = await keys.rotate();
    expect(second.retired).toBe(1);
    expect((await keys.signingKey()).kid).toBe(second.kid);
    expect((await keys.jwks()).keys.map((k) => k.kid).sort()).toEqual([first, second.kid].sort());
    clock.advance(DAY_MS);
    expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([second.kid]);
    clock.advance(1000);
    const third = await keys.rotate();
    expect(third.deleted).toBe(1);
    expect((await keys.list()).map((k) => k.kid).sort()).toEqual([second.kid, third.kid].sort());
  });

  it('says what to do when the secret changed and the stored key cannot be read', async () => {
    await new ToolKeyService(store.lti, { secret: 'a-secret-of-sixteen+', overlapMs: DAY_MS }).signingKey();
    const other = new ToolKeyService(store.lti, { secret: 'another-secret-xxxx', overlapMs: DAY_MS });
    await expect(other.signingKey()).rejects.toThrow(/flexi lti keys rotate/);
    await other.rotate();
    await expect(other.signingKey()).resolves.toBeDefined();
  });
});
