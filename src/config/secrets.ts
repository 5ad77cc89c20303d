import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Config } from './schema.js';

/** Defaults that ship in the schema; a deployment must never keep them. */
const DEV_PREFIX = 'flexi-dev-';

interface GeneratedSecrets {
  pseudonym_secret: string;
  cookie_secret: string;
}

/**
 * Per-deployment secrets without configuration: on a single-node (SQLite) deployment, secrets
 * left at their development defaults are generated once and kept beside the database
 * (`secrets.json`, mode 600), so every installation gets its own pseudonym key and cookie key.
 * With PostgreSQL (several replicas) they must be configured, because all replicas need the
 * same values; the caller then keeps warning.
 */
export function withDeploymentSecrets(config: Config): { config: Config; generatedPath?: string } {
  const needsPseudonym = config.privacy.pseudonym_secret.startsWith(DEV_PREFIX);
  const needsCookie = config.auth.cookie_secret.startsWith(DEV_PREFIX);
  const url = config.database.url;
  if ((!needsPseudonym && !needsCookie) || /^postgres(ql)?:\/\//i.test(url) || url === ':memory:') return { config };
  const path = join(dirname(resolve(url)), 'secrets.json');
  let secrets: Partial<GeneratedSecrets> = {};
  if (existsSync(path)) secrets = JSON.parse(readFileSync(path, 'utf8')) as Partial<GeneratedSecrets>;
  const fresh = (): string => randomBytes(32).toString('base64url');
  const next: GeneratedSecrets = {
    pseudonym_secret: secrets.pseudonym_secret ?? fresh(),
    cookie_secret: secrets.cookie_secret ?? fresh(),
  };
  if (next.pseudonym_secret !== secrets.pseudonym_secret || next.cookie_secret !== secrets.cookie_secret) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  const merged: Config = {
    ...config,
    privacy: needsPseudonym ? { ...config.privacy, pseudonym_secret: next.pseudonym_secret } : config.privacy,
    auth: needsCookie ? { ...config.auth, cookie_secret: next.cookie_secret } : config.auth,
  };
  return { config: Object.freeze(merged), generatedPath: path };
}
