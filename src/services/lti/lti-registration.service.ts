import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { LtiPlatformRecord } from '../../store/lti.repository.js';
import type { AuditService } from '../identity/audit.service.js';
import { DEEP_LINKING_REQUEST, NRPS_SCOPE, PLATFORM_CONFIGURATION, TOOL_CONFIGURATION } from './lti-claims.js';
import type { LtiPlatformService } from './lti-platform.service.js';
import type { TicketSigner } from './lti-ticket.js';

const TICKET_PURPOSE = 'registration';

/** The URLs of the tool as platforms see them. */
export function toolUrls(base: string): { login: string; launch: string; jwks: string; register: string } {
  const root = base.replace(/\/+$/, '');
  return { login: `${root}/lti/login`, launch: `${root}/lti/launch`, jwks: `${root}/lti/jwks`, register: `${root}/lti/register` };
}

interface PlatformConfiguration {
  issuer?: unknown;
  authorization_endpoint?: unknown;
  token_endpoint?: unknown;
  jwks_uri?: unknown;
  registration_endpoint?: unknown;
  [PLATFORM_CONFIGURATION]?: { product_family_code?: unknown };
}

/**
 * LTI Dynamic Registration (Moodle's "tool URL" flow): the administrator gives Moodle a
 * registration link made by `flexi lti register-url` (signed and expiring, so nobody else can
 * register platforms); Moodle opens it with `openid_configuration` and `registration_token`;
 * Flexi reads the platform's configuration, posts its own registration, and stores the platform
 * with the client id and deployment id Moodle answers.
 */
export class LtiRegistrationService {
  private readonly clock: Clock;

  constructor(private readonly deps: {
    platforms: LtiPlatformService;
    tickets: TicketSigner;
    audit: AuditService;
    toolName: string;
    fetchTimeoutMs: number;
    clock?: Clock;
  }) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The link to paste into the platform, valid for `ttlMs`. */
  registrationUrl(toolUrl: string, ttlMs: number): { url: string; expiresAt: string } {
    const expiresAtMs = this.clock.now() + ttlMs;
    const url = new URL(toolUrls(toolUrl).register);
    url.searchParams.set('token', this.deps.tickets.sign(TICKET_PURPOSE, {}, expiresAtMs));
    return { url: url.href, expiresAt: new Date(expiresAtMs).toISOString() };
  }

  async register(input: { token: unknown; openidConfiguration: unknown; registrationToken: unknown }, toolUrl: string): Promise<LtiPlatformRecord> {
    if (typeof input.token !== 'string' || input.token.length === 0) {
      throw new FlexiError('invalid_request', 'This registration link lacks its token; make one with `flexi lti register-url` and paste the whole link.', { param: 'token' });
    }
    if (this.deps.tickets.open(TICKET_PURPOSE, input.token, this.clock.now()) === undefined) {
      throw new FlexiError('unauthorized', 'This registration link is missing its token, expired or altered; make a new one with `flexi lti register-url`.', { param: 'token' });
    }
    if (typeof input.openidConfiguration !== 'string' || input.openidConfiguration.length > 2048) {
      throw new FlexiError('invalid_request', 'The platform must open this link with openid_configuration (the URL of its OpenID configuration).', { param: 'openid_configuration' });
    }
    const configUrl = this.deps.platforms.checkUrl('openid_configuration', input.openidConfiguration);
    const config = await this.fetchJson<PlatformConfiguration>(configUrl, {}, 'OpenID configuration');
    const issuer = text(config.issuer, 'issuer');
    if (new URL(issuer).origin !== new URL(configUrl).origin) {
      throw new FlexiError('invalid_request', `The platform's issuer ${issuer.slice(0, 200)} is not on the host of its configuration URL.`, { param: 'openid_configuration' });
    }
    const registrationEndpoint = this.deps.platforms.checkUrl('registration_endpoint', text(config.registration_endpoint, 'registration_endpoint'));
    const urls = toolUrls(toolUrl);
    const registration = {
      application_type: 'web',
      response_types: ['id_token'],
      grant_types: ['implicit', 'client_credentials'],
      initiate_login_uri: urls.login,
      redirect_uris: [urls.launch],
      client_name: this.deps.toolName,
      jwks_uri: urls.jwks,
      token_endpoint_auth_method: 'private_key_jwt',
      scope: NRPS_SCOPE,
      [TOOL_CONFIGURATION]: {
        domain: new URL(toolUrl).host,
        target_link_uri: urls.launch,
        description: 'Chat with the university\'s own language models and course bots.',
        claims: ['iss', 'sub', 'name', 'given_name', 'family_name', 'email'],
        messages: [{ type: DEEP_LINKING_REQUEST, target_link_uri: urls.launch, label: this.deps.toolName }],
      },
    };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (typeof input.registrationToken === 'string' && input.registrationToken.length > 0) headers.authorization = `Bearer ${input.registrationToken}`;
    const answer = await this.fetchJson<{ client_id?: unknown; [TOOL_CONFIGURATION]?: { deployment_id?: unknown } }>(
      registrationEndpoint, { method: 'POST', headers, body: JSON.stringify(registration) }, 'registration endpoint',
    );
    const family = config[PLATFORM_CONFIGURATION]?.product_family_code;
    const platform = await this.deps.platforms.add('lti:dynamic-registration', {
      name: `${typeof family === 'string' ? `${family.slice(0, 40)} ` : ''}${new URL(issuer).host}`,
      issuer,
      clientId: text(answer.client_id, 'client_id'),
      authUrl: text(config.authorization_endpoint, 'authorization_endpoint'),
      jwksUrl: text(config.jwks_uri, 'jwks_uri'),
      tokenUrl: text(config.token_endpoint, 'token_endpoint'),
      deploymentIds: [text(answer[TOOL_CONFIGURATION]?.deployment_id, 'deployment_id')],
    });
    return platform;
  }

  private async fetchJson<T>(url: string, init: RequestInit, what: string): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.deps.fetchTimeoutMs) });
    } catch (error) {
      throw new FlexiError('backend_unavailable', `The platform's ${what} at ${url} cannot be reached: ${(error as Error).message}.`, { cause: error });
    }
    const body = await response.text().catch(() => '');
    if (!response.ok) throw new FlexiError('backend_error', `The platform's ${what} at ${url} answered ${response.status}: ${body.slice(0, 200)}`);
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new FlexiError('backend_error', `The platform's ${what} at ${url} is not JSON.`);
    }
  }
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) {
    throw new FlexiError('backend_error', `The platform's answer lacks ${field}.`, { param: field });
  }
  return value;
}
