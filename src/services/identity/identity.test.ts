import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { identityWarnings } from './identity.js';

const OIDC = 'auth:\n  oidc:\n    issuer: https://sso.example.org/realms/uni\n    client_id: flexi\n';

describe('identityWarnings', () => {
  it('warns, naming the key, when OIDC\'s default role grants no model', () => {
    const warnings = identityWarnings(loadConfig({ fileText: OIDC }));
    expect(warnings.find((w) => w.startsWith('auth.oidc.default_roles (guest) grant no model'))).toContain('roles.guest.models');
  });

  it('says nothing about OIDC when the default role has models', () => {
    const warnings = identityWarnings(loadConfig({ fileText: `${OIDC}    default_roles: [student]\n` }));
    expect(warnings.filter((w) => w.startsWith('auth.oidc'))).toEqual([]);
  });

  it('names an unknown role in an OIDC mapping', () => {
    const warnings = identityWarnings(loadConfig({ fileText: `${OIDC}    default_roles: [nobody]\n` }));
    expect(warnings).toContainEqual(expect.stringMatching(/^auth\.oidc: unknown role "nobody"/));
  });
});
