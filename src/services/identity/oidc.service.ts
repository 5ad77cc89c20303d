import * as oidc from 'openid-client';
import type { Config } from '../../config/schema.js';
import { FlexiError } from '../../core/errors.js';
import type { UserRecord } from '../../core/identity-records.js';
import { globToRegExp } from './policy.service.js';
import type { UserService } from './user.service.js';

export type OidcConfig = NonNullable<Config['auth']['oidc']>;

/** What the browser carries (in a signed, short-lived cookie) between start and callback. */
export interface OidcTransaction {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  returnTo: string;
}

/** Identity provider name in `identities.provider`; LTI launches will use `lti:<issuer>`. */
export const OIDC_PROVIDER = 'oidc';

/** `a.b.c` walks into nested claims (Keycloak puts roles in `realm_access.roles`). */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Roles granted by the mapping rules; the defaults when none matched. */
export function mapClaimsToRoles(claims: Record<string, unknown>, config: Pick<OidcConfig, 'role_mappings' | 'default_roles'>): string[] {
  const roles = new Set<string>();
  for (const rule of config.role_mappings) {
    const value = claimAt(claims, rule.claim);
    const values = Array.isArray(value) ? value : [value];
    const pattern = globToRegExp(rule.value);
    if (values.some((v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && pattern.test(String(v)))) {
      for (const role of rule.roles) roles.add(role);
    }
  }
  return roles.size > 0 ? [...roles] : [...config.default_roles];
}

/**
 * OpenID Connect single sign-on (authorization code flow with PKCE, state and nonce) via
 * openid-client. The provider's metadata is discovered on first use and kept.
 */
export class OidcService {
  private discovered: Promise<oidc.Configuration> | undefined;

  constructor(private readonly config: OidcConfig, private readonly users: UserService) {}

  private configuration(): Promise<oidc.Configuration> {
    this.discovered ??= oidc.discovery(
      new URL(this.config.issuer), this.config.client_id, this.config.client_secret, undefined,
      this.config.allow_http ? { execute: [oidc.allowInsecureRequests] } : undefined,
    ).catch((error: unknown) => {
      // Try again on the next login rather than caching a failure.
      this.discovered = undefined;
      throw new FlexiError('backend_unavailable', `The identity provider ${this.config.issuer} cannot be reached: ${(error as Error).message}`, { cause: error });
    });
    return this.discovered;
  }

  /** The provider URL to send the browser to, and what to remember until the callback. */
  async start(redirectUri: string, returnTo: string): Promise<{ url: string; transaction: OidcTransaction }> {
    const configuration = await this.configuration();
    const transaction: OidcTransaction = {
      state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(),
      redirectUri: this.config.redirect_uri ?? redirectUri, returnTo,
    };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: transaction.redirectUri,
      scope: this.config.scopes,
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(transaction.verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, transaction };
  }

  /** Exchanges the code, checks state, nonce and the ID token, and returns the (new or linked) user. */
  async finish(query: Record<string, string>, transaction: OidcTransaction): Promise<UserRecord> {
    const configuration = await this.configuration();
    const current = new URL(transaction.redirectUri);
    for (const [name, value] of Object.entries(query)) current.searchParams.set(name, value);
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, current, {
        pkceCodeVerifier: transaction.verifier, expectedState: transaction.state, expectedNonce: transaction.nonce, idTokenExpected: true,
      });
      claims = { ...(tokens.claims() as Record<string, unknown>) };
      const missing = [this.config.email_claim, ...this.config.role_mappings.map((r) => r.claim)].some((c) => claimAt(claims, c) === undefined);
      if (missing && tokens.access_token && configuration.serverMetadata().userinfo_endpoint) {
        const info = await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub as string);
        claims = { ...info, ...claims };
      }
    } catch (error) {
      if (error instanceof FlexiError) throw error;
      throw new FlexiError('unauthorized', `Single sign-on failed: ${(error as Error).message}`, { cause: error });
    }
    const email = claimAt(claims, this.config.email_claim);
    const name = claimAt(claims, this.config.name_claim);
    return this.users.upsertExternal({
      provider: OIDC_PROVIDER,
      subject: String(claims.sub),
      email: typeof email === 'string' ? email : null,
      emailVerified: claims.email_verified === true,
      displayName: typeof name === 'string' ? name.slice(0, 200) : null,
      roles: mapClaimsToRoles(claims, this.config),
      syncRoles: this.config.sync_roles,
    });
  }
}
