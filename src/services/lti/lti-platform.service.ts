import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { LtiPlatformRecord, LtiRepository, NewLtiPlatform } from '../../store/lti.repository.js';
import type { AuditService, Actor } from '../identity/audit.service.js';

/** A platform as an operator or a registration describes it: the name defaults to the issuer's host. */
export type PlatformInput = Omit<NewLtiPlatform, 'name' | 'createdAt'> & { name?: string };

const MAX_TEXT = 500;

/** LMS registrations: `flexi lti platforms add|list|rm` and dynamic registration. */
export class LtiPlatformService {
  private readonly clock: Clock;
  private origins: { atMs: number; value: string[] } | undefined;

  constructor(
    private readonly repository: LtiRepository,
    private readonly audit: AuditService,
    private readonly options: { allowHttp: boolean; clock?: Clock },
  ) {
    this.clock = options.clock ?? systemClock;
  }

  list(): Promise<LtiPlatformRecord[]> {
    return this.repository.listPlatforms();
  }

  /** By id, else by name, else by issuer (when only one registration has it). */
  async find(ref: string): Promise<LtiPlatformRecord | undefined> {
    const all = await this.repository.listPlatforms();
    const byIssuer = all.filter((p) => p.issuer === ref);
    return all.find((p) => p.id === ref) ?? all.find((p) => p.name === ref) ?? (byIssuer.length === 1 ? byIssuer[0] : undefined);
  }

  async get(ref: string): Promise<LtiPlatformRecord> {
    const platform = await this.find(ref);
    if (!platform) throw new FlexiError('not_found', `No LTI platform ${ref.slice(0, 100)} (see \`flexi lti platforms list\`).`);
    return platform;
  }

  /** The registration a login names: by issuer, and by client id where the issuer has several. */
  async findForLogin(issuer: string, clientId: string | undefined): Promise<LtiPlatformRecord | undefined> {
    const candidates = (await this.repository.listPlatforms()).filter((p) => p.issuer === issuer && (clientId === undefined || p.clientId === clientId));
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  async add(actor: Actor, input: PlatformInput): Promise<LtiPlatformRecord> {
    const issuer = this.checkUrl('issuer', input.issuer);
    const clean = {
      name: checkText('name', input.name ?? new URL(issuer).host),
      issuer,
      clientId: checkText('client_id', input.clientId),
      authUrl: this.checkUrl('auth_url', input.authUrl),
      jwksUrl: this.checkUrl('jwks_url', input.jwksUrl),
      tokenUrl: this.checkUrl('token_url', input.tokenUrl),
      deploymentIds: input.deploymentIds.map((d) => checkText('deployment_id', d)),
    };
    if (clean.deploymentIds.length === 0) throw new FlexiError('invalid_request', 'A platform needs at least one deployment id (Moodle shows it as "Deployment ID").', { param: 'deployment_id' });
    const existing = (await this.repository.listPlatforms()).find((p) => p.issuer === clean.issuer && p.clientId === clean.clientId);
    if (existing) throw new FlexiError('conflict', `A platform with issuer ${clean.issuer} and client id ${clean.clientId} is registered already (${existing.id}).`, { param: 'client_id' });
    const platform = await this.repository.createPlatform({ ...clean, createdAt: toTimestamp(this.clock.now()) });
    this.origins = undefined;
    await this.audit.record(actor, 'lti.platform_add', { type: 'lti_platform', id: platform.id }, { issuer: platform.issuer, client_id: platform.clientId });
    return platform;
  }

  async addDeployment(actor: Actor, platformId: string, deploymentId: string): Promise<void> {
    await this.repository.addDeployment(platformId, checkText('deployment_id', deploymentId), toTimestamp(this.clock.now()));
    await this.audit.record(actor, 'lti.deployment_add', { type: 'lti_platform', id: platformId }, { deployment_id: deploymentId });
  }

  async remove(actor: Actor, ref: string): Promise<LtiPlatformRecord> {
    const platform = await this.get(ref);
    await this.repository.deletePlatform(platform.id);
    this.origins = undefined;
    await this.audit.record(actor, 'lti.platform_remove', { type: 'lti_platform', id: platform.id }, { issuer: platform.issuer });
    return platform;
  }

  /**
   * Origins of the registered platforms (cached for a minute): pages may be framed by them, which
   * is how Moodle shows a tool inside a course.
   */
  async frameOrigins(): Promise<string[]> {
    const nowMs = this.clock.now();
    if (this.origins && nowMs - this.origins.atMs < 60_000) return this.origins.value;
    const value = [...new Set((await this.repository.listPlatforms()).map((p) => new URL(p.issuer).origin))];
    this.origins = { atMs: nowMs, value };
    return value;
  }

  /** Cached origins without waiting (an onSend hook must not); refreshes in the background. */
  cachedFrameOrigins(): string[] {
    if (!this.origins || this.clock.now() - this.origins.atMs >= 60_000) void this.frameOrigins().catch(() => undefined);
    return this.origins?.value ?? [];
  }

  checkUrl(field: string, value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new FlexiError('invalid_request', `${field} must be an absolute URL, got "${String(value).slice(0, 100)}".`, { param: field });
    }
    const allowed = url.protocol === 'https:' || (this.options.allowHttp && url.protocol === 'http:');
    if (!allowed) throw new FlexiError('invalid_request', `${field} must be an https:// URL (lti.allow_http allows http:// for tests).`, { param: field });
    if (value.length > MAX_TEXT) throw new FlexiError('invalid_request', `${field} is longer than ${MAX_TEXT} characters.`, { param: field });
    // The issuer is compared as text with the id_token's `iss`: keep it exactly as given.
    return field === 'issuer' ? value : url.href;
  }
}

function checkText(field: string, value: string | undefined): string {
  const text = (value ?? '').trim();
  if (text.length === 0 || text.length > MAX_TEXT || [...text].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new FlexiError('invalid_request', `${field} must be 1 to ${MAX_TEXT} printable characters.`, { param: field });
  }
  return text;
}
