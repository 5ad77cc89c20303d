import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { toTimestamp } from '../../store/database.js';
import type { LtiRepository, LtiToolKeyRecord } from '../../store/lti.repository.js';

const ALGORITHM = 'RS256';
const FORMAT = 'v1';

/** A key the tool signs with (deep-linking responses, client assertions). */
export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

/** What `flexi lti keys list` shows of a key (never private material). */
export interface ToolKeyInfo {
  kid: string;
  createdAt: string;
  retiredAt: string | null;
  expiresAt: string | null;
  active: boolean;
}

/**
 * AES-256-GCM around the private JWK, with a key derived (HKDF-SHA256) from the configured
 * secret: a copy of the database alone cannot sign as the tool.
 */
class KeyBox {
  private readonly key: Buffer;
  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'flexi-lti', 'tool-private-key', 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [FORMAT, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [format, iv, body, tag] = sealed.split('.');
    if (format !== FORMAT || !iv || !body || !tag) throw new Error('unknown key format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/**
 * The tool's own RSA keys: the newest active one signs; `rotate()` makes a new one and keeps the
 * old ones published (JWKS) for `overlapMs`, so platforms that cached the key set still verify.
 */
export class ToolKeyService {
  private readonly box: KeyBox;
  private readonly clock: Clock;
  private signing: Promise<SigningKey> | undefined;

  constructor(private readonly repository: LtiRepository, options: { secret: string; overlapMs: number; clock?: Clock }) {
    this.box = new KeyBox(options.secret);
    this.overlapMs = options.overlapMs;
    this.clock = options.clock ?? systemClock;
  }

  private readonly overlapMs: number;

  /** The key set platforms verify the tool with: the active key and retired ones not yet expired. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.ensureKey();
    const now = toTimestamp(this.clock.now());
    const keys = (await this.repository.listKeys()).filter((k) => k.expiresAt === null || k.expiresAt > now);
    return { keys: keys.map((k) => JSON.parse(k.publicJwk) as JWK) };
  }

  /** The active key; the first call makes one when the database has none. */
  signingKey(): Promise<SigningKey> {
    this.signing ??= this.loadSigningKey().catch((error: unknown) => {
      this.signing = undefined;
      throw error;
    });
    return this.signing;
  }

  async list(): Promise<ToolKeyInfo[]> {
    const keys = await this.repository.listKeys();
    return keys.map((k) => ({ kid: k.kid, createdAt: k.createdAt, retiredAt: k.retiredAt, expiresAt: k.expiresAt, active: k.retiredAt === null }));
  }

  /** A new active key; the others retire and stay published for the overlap. Expired ones are deleted. */
  async rotate(): Promise<{ kid: string; retired: number; deleted: number }> {
    const nowMs = this.clock.now();
    const record = await this.createKey(nowMs);
    const retired = await this.repository.retireKeysExcept(record.kid, toTimestamp(nowMs), toTimestamp(nowMs + this.overlapMs));
    const deleted = await this.repository.deleteExpiredKeys(toTimestamp(nowMs));
    this.signing = undefined;
    return { kid: record.kid, retired, deleted };
  }

  private async ensureKey(): Promise<void> {
    await this.signingKey();
  }

  private async loadSigningKey(): Promise<SigningKey> {
    let active = (await this.repository.listKeys()).find((k) => k.retiredAt === null);
    active ??= await this.createKey(this.clock.now());
    let jwk: JWK;
    try {
      jwk = JSON.parse(this.box.open(active.privateJwkEncrypted)) as JWK;
    } catch (error) {
      throw new Error(`The LTI tool key ${active.kid} cannot be decrypted (was lti.key_secret or auth.cookie_secret changed?); run \`flexi lti keys rotate\`.`, { cause: error });
    }
    return { kid: active.kid, key: await importJWK(jwk, ALGORITHM) as CryptoKey };
  }

  private async createKey(nowMs: number): Promise<LtiToolKeyRecord> {
    const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { extractable: true, modulusLength: 2048 });
    const kid = randomId(16);
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALGORITHM, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALGORITHM };
    const record: LtiToolKeyRecord = {
      kid, publicJwk: JSON.stringify(publicJwk), privateJwkEncrypted: this.box.seal(JSON.stringify(privateJwk)),
      createdAt: toTimestamp(nowMs), retiredAt: null, expiresAt: null,
    };
    await this.repository.insertKey(record);
    return record;
  }
}
