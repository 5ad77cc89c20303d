import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadConfigFromDisk } from './load.js';
import { withDeploymentSecrets } from './secrets.js';

describe('withDeploymentSecrets', () => {
  it('generates per-deployment secrets beside a SQLite database once and reuses them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flexi-secrets-'));
    const config = loadConfig({ env: { FLEXI_DATABASE_URL: join(dir, 'data', 'flexi.db') } });
    const first = withDeploymentSecrets(config);
    expect(first.generatedPath).toBe(join(dir, 'data', 'secrets.json'));
    expect(first.config.privacy.pseudonym_secret).not.toMatch(/^flexi-dev-/);
    expect(first.config.auth.cookie_secret).not.toMatch(/^flexi-dev-/);
    expect(first.config.privacy.pseudonym_secret).not.toBe(first.config.auth.cookie_secret);
    expect(statSync(first.generatedPath!).mode & 0o777).toBe(0o600);
    const second = withDeploymentSecrets(config);
    expect(second.config.privacy.pseudonym_secret).toBe(first.config.privacy.pseudonym_secret);
    expect(JSON.parse(readFileSync(first.generatedPath!, 'utf8')).cookie_secret).toBe(first.config.auth.cookie_secret);
  });

  it('leaves configured secrets and PostgreSQL deployments alone', () => {
    const configured = loadConfig({ env: { FLEXI_PRIVACY_PSEUDONYM_SECRET: 'a-configured-secret-value', FLEXI_AUTH_COOKIE_SECRET: 'another-configured-secret' } });
    expect(withDeploymentSecrets(configured).config).toBe(configured);
    const postgres = loadConfig({ env: { FLEXI_DATABASE_URL: 'postgres://db/flexi' } });
    expect(withDeploymentSecrets(postgres).config.privacy.pseudonym_secret).toMatch(/^flexi-dev-/);
  });

  it('gives the CLI and the server the same secrets (both read the config through loadConfigFromDisk)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flexi-secrets-'));
    const env = { FLEXI_DATABASE_URL: join(dir, 'flexi.db'), FLEXI_CONFIG: join(dir, 'missing.yaml') };
    const fromCli = loadConfigFromDisk({ env: { ...env, FLEXI_CONFIG: undefined }, path: undefined });
    const again = loadConfigFromDisk({ env: { ...env, FLEXI_CONFIG: undefined } });
    expect(fromCli.privacy.pseudonym_secret).not.toMatch(/^flexi-dev-/);
    expect(again.privacy.pseudonym_secret).toBe(fromCli.privacy.pseudonym_secret);
    expect(withDeploymentSecrets(again).config).toBe(again);
  });
});
