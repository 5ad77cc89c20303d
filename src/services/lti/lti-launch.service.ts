import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { toTimestamp } from '../../store/database.js';
import type { LtiPlatformRecord, LtiRepository } from '../../store/lti.repository.js';
import { CLAIM, DEEP_LINKING_REQUEST, LTI_VERSION, RESOURCE_LINK_REQUEST } from './lti-claims.js';
import { LtiLaunchError } from './lti-errors.js';
import type { LtiPlatformService } from './lti-platform.service.js';

export interface LaunchSettings {
  stateTtlMs: number;
  clockSkewMs: number;
  maxTokenAgeMs: number;
  jwksCacheMs: number;
  jwksCooldownMs: number;
  fetchTimeoutMs: number;
}

/** The parameters of an OIDC third-party-initiated login (GET query or POST form). */
export interface LoginRequest {
  iss?: string;
  login_hint?: string;
  target_link_uri?: string;
  lti_message_hint?: string;
  lti_deployment_id?: string;
  client_id?: string;
}

/** A verified launch: every check passed. */
export interface VerifiedLaunch {
  platform: LtiPlatformRecord;
  claims: JWTPayload & Record<string, unknown>;
  messageType: typeof RESOURCE_LINK_REQUEST | typeof DEEP_LINKING_REQUEST;
  deploymentId: string;
  subject: string;
  roles: string[];
}

const MAX_PARAM = 2048;
const TOKEN_MAX_BYTES = 64 * 1024;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function param(request: LoginRequest, name: keyof LoginRequest, required: boolean): string | undefined {
  const value = request[name];
  if (value === undefined || value === '') {
    if (required) throw new LtiLaunchError('request', `The login request lacks "${name}"; the platform must send iss, login_hint and target_link_uri.`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length > MAX_PARAM) throw new LtiLaunchError('request', `"${name}" must be text of at most ${MAX_PARAM} characters.`);
  return value;
}

/**
 * OIDC login initiation and id_token validation (IMS Security Framework §5.1.3): state bound to
 * the browser by a cookie, signature against the platform's key set, iss, aud/azp, exp/iat, a
 * one-time nonce, registered deployment, version and message type.
 */
export class LtiLaunchService {
  private readonly clock: Clock;
  private readonly keySets = new Map<string, { url: string; keySet: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(
    private readonly repository: LtiRepository,
    private readonly platforms: LtiPlatformService,
    private readonly settings: LaunchSettings,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Step 1 → 2 of the launch: stores a state and nonce for this browser and returns the
   * platform's authorization URL to redirect to. `browserId` is the browser's cookie when it has
   * one (several launches on one course page share it); else a new one the caller sets.
   */
  async startLogin(request: LoginRequest, redirectUri: string, browserId: string | undefined): Promise<{ url: string; browserId: string; platformId: string }> {
    const issuer = param(request, 'iss', true)!;
    const loginHint = param(request, 'login_hint', true)!;
    const targetLinkUri = param(request, 'target_link_uri', true)!;
    const messageHint = param(request, 'lti_message_hint', false);
    const clientId = param(request, 'client_id', false);
    const deploymentId = param(request, 'lti_deployment_id', false);
    const platform = await this.platforms.findForLogin(issuer, clientId);
    if (!platform) {
      throw new LtiLaunchError('platform', `No platform is registered with issuer ${issuer.slice(0, 200)}${clientId ? ` and client id ${clientId.slice(0, 100)}` : ''}; an administrator adds it with \`flexi lti platforms add\`.`);
    }
    if (deploymentId !== undefined && !(await this.repository.hasDeployment(platform.id, deploymentId))) {
      throw new LtiLaunchError('deployment_id', `Deployment ${deploymentId.slice(0, 100)} is not registered for ${platform.name}; add it with \`flexi lti platforms add … --deployment-id\`.`, platform.id);
    }
    const nowMs = this.clock.now();
    await this.repository.deleteExpired(toTimestamp(nowMs));
    const state = randomId(43);
    const nonce = randomId(43);
    const browser = browserId && /^[A-Za-z0-9]{43}$/.test(browserId) ? browserId : randomId(43);
    const loginParams: Record<string, string> = { iss: issuer, login_hint: loginHint, target_link_uri: targetLinkUri };
    if (messageHint !== undefined) loginParams.lti_message_hint = messageHint;
    if (clientId !== undefined) loginParams.client_id = clientId;
    if (deploymentId !== undefined) loginParams.lti_deployment_id = deploymentId;
    await this.repository.insertLoginState({
      stateHash: sha256(state), browserHash: sha256(browser), nonce, platformId: platform.id, loginParams,
      createdAt: toTimestamp(nowMs), expiresAt: toTimestamp(nowMs + this.settings.stateTtlMs),
    });
    const url = new URL(platform.authUrl);
    const query: Record<string, string> = {
      scope: 'openid', response_type: 'id_token', response_mode: 'form_post', prompt: 'none', client_id: platform.clientId,
      redirect_uri: redirectUri, login_hint: loginHint, state, nonce,
    };
    // Echoed unchanged: Moodle finds the launch it started by it.
    if (messageHint !== undefined) query.lti_message_hint = messageHint;
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return { url: url.href, browserId: browser, platformId: platform.id };
  }

  /** Steps 3 → 4: every check on the posted id_token; throws `LtiLaunchError` naming the first that fails. */
  async verifyLaunch(input: { idToken: unknown; state: unknown; browserId: string | undefined }): Promise<VerifiedLaunch & { loginParams: Record<string, string> }> {
    if (typeof input.state !== 'string' || input.state.length === 0 || input.state.length > 200) {
      throw new LtiLaunchError('request', 'The launch carries no state (form field "state"); it must come from a login that started at /lti/login.');
    }
    if (typeof input.idToken !== 'string' || input.idToken.length === 0 || input.idToken.length > TOKEN_MAX_BYTES) {
      throw new LtiLaunchError('request', 'The launch carries no id_token (form field "id_token").');
    }
    const stored = await this.repository.takeLoginState(sha256(input.state));
    const nowMs = this.clock.now();
    if (!stored || stored.expiresAt <= toTimestamp(nowMs)) {
      throw new LtiLaunchError('state', 'The launch\'s state is unknown, used already or expired; start the activity again from the course.', stored?.platformId);
    }
    if (input.browserId === undefined) {
      throw new LtiLaunchError('browser', 'Your browser did not send back the cookie set when the launch began: it blocks cookies in embedded frames.', stored.platformId, true, stored.loginParams);
    }
    if (sha256(input.browserId) !== stored.browserHash) {
      throw new LtiLaunchError('browser', 'This launch was started in another browser; start the activity again from the course.', stored.platformId);
    }
    const platform = (await this.platforms.list()).find((p) => p.id === stored.platformId);
    if (!platform) throw new LtiLaunchError('platform', 'The platform of this launch was removed.');
    const claims = await this.verifyToken(platform, input.idToken, nowMs);
    return { ...(await this.checkClaims(platform, claims, stored.nonce, nowMs)), loginParams: stored.loginParams };
  }

  private keySet(platform: LtiPlatformRecord): ReturnType<typeof createRemoteJWKSet> {
    const cached = this.keySets.get(platform.id);
    if (cached && cached.url === platform.jwksUrl) return cached.keySet;
    // jose caches the set, and refetches it (at most once per cooldown) when a token names an unknown kid.
    const keySet = createRemoteJWKSet(new URL(platform.jwksUrl), {
      cacheMaxAge: this.settings.jwksCacheMs, cooldownDuration: this.settings.jwksCooldownMs, timeoutDuration: this.settings.fetchTimeoutMs,
    });
    this.keySets.set(platform.id, { url: platform.jwksUrl, keySet });
    return keySet;
  }

  private async verifyToken(platform: LtiPlatformRecord, token: string, nowMs: number): Promise<JWTPayload & Record<string, unknown>> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new LtiLaunchError('signature', 'The id_token is not a signed JWT.', platform.id);
    }
    if (alg !== 'RS256') throw new LtiLaunchError('signature', `The id_token is signed with ${String(alg).slice(0, 20)}; LTI allows RS256 only.`, platform.id);
    try {
      const { payload } = await jwtVerify(token, this.keySet(platform), {
        algorithms: ['RS256'], issuer: platform.issuer, audience: platform.clientId,
        clockTolerance: Math.ceil(this.settings.clockSkewMs / 1000), maxTokenAge: Math.ceil(this.settings.maxTokenAgeMs / 1000),
        requiredClaims: ['exp', 'iat', 'nonce', 'sub'], currentDate: new Date(nowMs),
      });
      return payload as JWTPayload & Record<string, unknown>;
    } catch (error) {
      throw toLaunchError(error, platform);
    }
  }

  private async checkClaims(platform: LtiPlatformRecord, claims: JWTPayload & Record<string, unknown>, expectedNonce: string, nowMs: number): Promise<VerifiedLaunch> {
    const fail = (check: ConstructorParameters<typeof LtiLaunchError>[0], message: string) => new LtiLaunchError(check, message, platform.id);
    // Several audiences: the one the token is for must be named as the authorized party.
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if ((audiences.length > 1 || claims.azp !== undefined) && claims.azp !== platform.clientId) {
      throw fail('azp', `The id_token has several audiences and its azp (${String(claims.azp).slice(0, 100)}) is not Flexi's client id.`);
    }
    if (claims.nonce !== expectedNonce) throw fail('nonce', 'The id_token\'s nonce is not the one Flexi sent for this login.');
    const expiresMs = typeof claims.exp === 'number' ? claims.exp * 1000 + this.settings.clockSkewMs : nowMs + this.settings.maxTokenAgeMs;
    if (!(await this.repository.useNonce(platform.id, claims.nonce, toTimestamp(Math.max(expiresMs, nowMs + this.settings.maxTokenAgeMs))))) {
      throw fail('nonce', 'The id_token\'s nonce was used before: this is a replayed launch.');
    }
    const deploymentId = claims[CLAIM.deploymentId];
    if (typeof deploymentId !== 'string' || !(await this.repository.hasDeployment(platform.id, deploymentId))) {
      throw fail('deployment_id', `Deployment ${String(deploymentId).slice(0, 100)} is not registered for ${platform.name}; add it with \`flexi lti platforms add … --deployment-id\`.`);
    }
    if (claims[CLAIM.version] !== LTI_VERSION) throw fail('version', `The launch is LTI version ${String(claims[CLAIM.version]).slice(0, 20)}; Flexi speaks ${LTI_VERSION}.`);
    const messageType = claims[CLAIM.messageType];
    if (messageType !== RESOURCE_LINK_REQUEST && messageType !== DEEP_LINKING_REQUEST) {
      throw fail('message_type', `Message type ${String(messageType).slice(0, 60)} is not supported (${RESOURCE_LINK_REQUEST}, ${DEEP_LINKING_REQUEST}).`);
    }
    const roles = claims[CLAIM.roles];
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) throw fail('claims', 'The id_token lacks the roles claim.');
    if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 255) throw fail('claims', 'The id_token lacks a subject (sub).');
    if (messageType === RESOURCE_LINK_REQUEST) {
      const link = claims[CLAIM.resourceLink] as { id?: unknown } | undefined;
      if (typeof link?.id !== 'string' || typeof claims[CLAIM.targetLinkUri] !== 'string') {
        throw fail('claims', 'A resource link launch needs resource_link.id and target_link_uri.');
      }
    } else {
      const settings = claims[CLAIM.deepLinkingSettings] as { deep_link_return_url?: unknown } | undefined;
      if (typeof settings?.deep_link_return_url !== 'string' || !/^https?:\/\//.test(settings.deep_link_return_url)) {
        throw fail('claims', 'A deep linking request needs deep_linking_settings.deep_link_return_url.');
      }
    }
    return { platform, claims, messageType, deploymentId, subject: claims.sub, roles: roles as string[] };
  }
}

function toLaunchError(error: unknown, platform: LtiPlatformRecord): LtiLaunchError {
  const fail = (check: ConstructorParameters<typeof LtiLaunchError>[0], message: string) => new LtiLaunchError(check, message, platform.id);
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
    const claim = error.claim;
    if (claim === 'iss') return fail('iss', `The id_token's issuer is not ${platform.issuer}.`);
    if (claim === 'aud') return fail('aud', `The id_token is not addressed to Flexi's client id ${platform.clientId}.`);
    if (claim === 'exp') return fail('exp', 'The id_token has expired (check the clocks of the platform and of Flexi).');
    if (claim === 'iat') return fail('iat', `The id_token's issue time is not recent (${error.reason}); check the clocks.`);
    if (claim === 'nonce') return fail('nonce', 'The id_token carries no nonce.');
    return fail('claims', `The id_token's ${claim} claim is invalid (${error.reason}).`);
  }
  if (error instanceof errors.JWKSNoMatchingKey) return fail('signature', 'The id_token is signed with a key the platform\'s key set does not contain.');
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return fail('signature', 'The id_token\'s signature does not verify against the platform\'s key set.');
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError) || error.code === 'ERR_JOSE_GENERIC') {
    return fail('jwks_unreachable', `The platform's key set at ${platform.jwksUrl} cannot be read: ${(error as Error).message.slice(0, 200)}.`);
  }
  return fail('signature', `The id_token does not verify: ${(error as Error).message.slice(0, 200)}.`);
}
