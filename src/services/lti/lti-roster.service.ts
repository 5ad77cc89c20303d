import { SignJWT } from 'jose';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { toTimestamp } from '../../store/database.js';
import type { GroupRepository } from '../../store/group.repository.js';
import type { LtiContextRecord, LtiPlatformRecord, LtiRepository } from '../../store/lti.repository.js';
import type { AuditService } from '../identity/audit.service.js';
import { NRPS_MEDIA_TYPE, NRPS_SCOPE } from './lti-claims.js';
import { ltiProvider, type LtiIdentityService } from './lti-identity.js';
import type { ToolKeyService } from './tool-keys.js';

/** More pages than this is a platform paging in circles: the sync fails rather than act on a partial roster. */
const MAX_PAGES = 10_000;
const ASSERTION_TTL_S = 300;

export interface RosterSyncResult {
  platformId: string;
  contextId: string;
  group: string;
  /** Active members the platform listed. */
  members: number;
  added: number;
  removed: number;
}

interface NrpsMember {
  user_id?: unknown;
  roles?: unknown;
  status?: unknown;
  email?: unknown;
  name?: unknown;
}

/**
 * Names and Role Provisioning Services 2.0: a client-credentials grant with a JWT assertion
 * signed by the tool key at the platform's token URL, then the course roster (paged by
 * `Link: rel="next"`). Active members join the course group; LTI members the roster no longer
 * lists (or lists as Inactive/Deleted) leave it. Members added by hand in Flexi stay.
 */
export class LtiRosterService {
  private readonly clock: Clock;
  private readonly tokens = new Map<string, { token: string; untilMs: number }>();

  constructor(private readonly deps: {
    lti: LtiRepository;
    groups: GroupRepository;
    identity: LtiIdentityService;
    keys: ToolKeyService;
    audit: AuditService;
    fetchTimeoutMs: number;
    clock?: Clock;
  }) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Every course of the platform that launched with a roster service (or the one named). */
  async syncPlatform(platform: LtiPlatformRecord, actor: string, contextId?: string): Promise<RosterSyncResult[]> {
    const contexts = (await this.deps.lti.listContexts(platform.id)).filter((c) => contextId === undefined || c.contextId === contextId);
    if (contextId !== undefined && contexts.length === 0) throw new FlexiError('not_found', `No course ${contextId.slice(0, 100)} of ${platform.name} has launched Flexi yet.`, { param: 'context' });
    const results: RosterSyncResult[] = [];
    for (const context of contexts) {
      if (context.membershipsUrl === null) continue;
      results.push(await this.syncContext(platform, context, actor));
    }
    return results;
  }

  /** Courses of the platform that launched with a roster service. */
  async contextsOf(platformId: string): Promise<LtiContextRecord[]> {
    return (await this.deps.lti.listContexts(platformId)).filter((c) => c.membershipsUrl !== null);
  }

  async syncContext(platform: LtiPlatformRecord, context: LtiContextRecord, actor: string): Promise<RosterSyncResult> {
    if (!context.membershipsUrl) throw new FlexiError('invalid_request', `The course ${context.contextId.slice(0, 100)} offers no roster (enable "IMS LTI Names and Role Provisioning" for the tool in the platform).`);
    const group = await this.deps.groups.find(context.groupId);
    if (!group) throw new FlexiError('not_found', `The group of course ${context.contextId.slice(0, 100)} was deleted.`);
    const members = await this.fetchMembers(platform, context.membershipsUrl);
    const active = new Set<string>();
    const before = new Set((await this.deps.lti.listLinkedMembers(group.id, ltiProvider(platform))).map((m) => m.subject));
    let added = 0;
    for (const member of members) {
      if (typeof member.user_id !== 'string' || member.user_id.length === 0 || member.user_id.length > 255) continue;
      if (member.status !== undefined && member.status !== 'Active') continue;
      const roles = Array.isArray(member.roles) ? member.roles.filter((r): r is string => typeof r === 'string') : [];
      const user = await this.deps.identity.linkUser(platform, {
        subject: member.user_id, roles,
        email: typeof member.email === 'string' ? member.email : undefined,
        name: typeof member.name === 'string' ? member.name : undefined,
      }, { touch: false });
      await this.deps.identity.setMembership(group, user, roles);
      active.add(member.user_id);
      if (!before.has(member.user_id)) added += 1;
    }
    let removed = 0;
    for (const linked of await this.deps.lti.listLinkedMembers(group.id, ltiProvider(platform))) {
      if (!active.has(linked.subject) && await this.deps.groups.removeMember(group.id, linked.userId)) removed += 1;
    }
    await this.deps.lti.updateContext(platform.id, context.contextId, { syncedAt: toTimestamp(this.clock.now()) });
    await this.deps.audit.record(actor, 'lti.roster_sync', { type: 'group', id: group.id }, { platform: platform.id, members: active.size, added, removed });
    return { platformId: platform.id, contextId: context.contextId, group: group.name, members: active.size, added, removed };
  }

  private async fetchMembers(platform: LtiPlatformRecord, url: string): Promise<NrpsMember[]> {
    const token = await this.accessToken(platform);
    const members: NrpsMember[] = [];
    let next: string | undefined = url;
    for (let page = 0; next !== undefined && page < MAX_PAGES; page += 1) {
      const response = await this.fetch(next, { headers: { accept: NRPS_MEDIA_TYPE, authorization: `Bearer ${token}` } }, 'roster');
      const body = await response.json().catch(() => undefined) as { members?: unknown } | undefined;
      if (!body || !Array.isArray(body.members)) throw new FlexiError('backend_error', `The roster at ${url} is not a membership container.`);
      members.push(...(body.members as NrpsMember[]));
      next = nextLink(response.headers.get('link'), next);
    }
    // A partial roster would make everyone on the missing pages "leave" the course.
    if (next !== undefined) throw new FlexiError('backend_error', `The roster at ${url} has more than ${MAX_PAGES} pages; nothing was changed.`);
    return members;
  }

  /** A bearer token for the roster scope, cached until shortly before it expires. */
  private async accessToken(platform: LtiPlatformRecord): Promise<string> {
    const cached = this.tokens.get(platform.id);
    const nowMs = this.clock.now();
    if (cached && cached.untilMs > nowMs) return cached.token;
    const { kid, key } = await this.deps.keys.signingKey();
    const nowS = Math.floor(nowMs / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(platform.clientId).setSubject(platform.clientId).setAudience(platform.tokenUrl)
      .setIssuedAt(nowS).setExpirationTime(nowS + ASSERTION_TTL_S).setJti(randomId(32))
      .sign(key);
    const response = await this.fetch(platform.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        scope: NRPS_SCOPE,
      }).toString(),
    }, 'token');
    const body = await response.json().catch(() => undefined) as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (typeof body?.access_token !== 'string') throw new FlexiError('backend_error', `The token endpoint of ${platform.name} sent no access_token.`);
    const lifetimeS = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    this.tokens.set(platform.id, { token: body.access_token, untilMs: nowMs + Math.max(0, lifetimeS - 30) * 1000 });
    return body.access_token;
  }

  private async fetch(url: string, init: RequestInit, what: string): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.deps.fetchTimeoutMs) });
    } catch (error) {
      throw new FlexiError('backend_unavailable', `The platform's ${what} endpoint ${url} cannot be reached: ${(error as Error).message}.`, { cause: error });
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 200);
      throw new FlexiError('backend_error', `The platform's ${what} endpoint ${url} answered ${response.status}${text ? `: ${text}` : ''}.`);
    }
    return response;
  }
}

/** The `rel="next"` target of a Link header, resolved against the page URL. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel\s*=\s*"?next"?/i.test(match[2]!)) return new URL(match[1]!, base).href;
  }
  return undefined;
}
