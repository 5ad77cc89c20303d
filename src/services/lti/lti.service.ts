import type { UserRecord } from '../../core/identity-records.js';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import type { GroupMemberRole, GroupRecord } from '../../store/group.repository.js';
import type { Store } from '../../store/store.js';
import type { AuditService } from '../identity/audit.service.js';
import type { PolicyService } from '../identity/policy.service.js';
import type { UserService } from '../identity/user.service.js';
import { CLAIM, DEEP_LINKING_REQUEST } from './lti-claims.js';
import { LtiDeepLinkingService, type DeepLinkTicket } from './lti-deep-linking.js';
import type { LtiLaunchError } from './lti-errors.js';
import { LtiIdentityService } from './lti-identity.js';
import { LtiLaunchService, type VerifiedLaunch } from './lti-launch.service.js';
import { LtiPlatformService } from './lti-platform.service.js';
import { LtiRegistrationService } from './lti-registration.service.js';
import { LtiRosterService, type RosterSyncResult } from './lti-roster.service.js';
import { TicketSigner } from './lti-ticket.js';
import { ToolKeyService } from './tool-keys.js';

/** What a verified launch leads to. */
export type LaunchOutcome =
  | { kind: 'resource_link'; user: UserRecord; group?: GroupRecord; groupRole?: GroupMemberRole; model?: string }
  | { kind: 'deep_linking'; user: UserRecord; group?: GroupRecord; groupRole?: GroupMemberRole; ticket: string; allowed: boolean };

const MODEL = /^[\x21-\x7e]{1,200}$/;

/** The LTI 1.3 tool, as routes, the CLI and the roster job use it. */
export class LtiService {
  readonly platforms: LtiPlatformService;
  readonly keys: ToolKeyService;
  readonly launches: LtiLaunchService;
  readonly identity: LtiIdentityService;
  readonly deepLinking: LtiDeepLinkingService;
  readonly roster: LtiRosterService;
  readonly registration: LtiRegistrationService;
  /** `lti.tool_url`, when set. */
  readonly toolUrl: string | undefined;
  /** `lti.state_ttl_ms`: how long the browser cookie of a login lives. */
  readonly stateTtlMs: number;
  private readonly defaultModel: string | undefined;
  private readonly audit: AuditService;

  constructor(deps: { config: Config; store: Store; users: UserService; policies: PolicyService; audit: AuditService; clock?: Clock }) {
    const { config, store, audit, clock } = deps;
    const lti = config.lti;
    const secret = lti.key_secret ?? config.auth.cookie_secret;
    const tickets = new TicketSigner(secret);
    this.audit = audit;
    this.toolUrl = lti.tool_url?.replace(/\/+$/, '');
    this.defaultModel = lti.default_model;
    this.stateTtlMs = lti.state_ttl_ms;
    this.platforms = new LtiPlatformService(store.lti, audit, { allowHttp: lti.allow_http, clock });
    this.keys = new ToolKeyService(store.lti, { secret, overlapMs: lti.key_overlap_ms, clock });
    this.launches = new LtiLaunchService(store.lti, this.platforms, {
      stateTtlMs: lti.state_ttl_ms, clockSkewMs: lti.clock_skew_ms, maxTokenAgeMs: lti.max_token_age_ms, jwksCacheMs: lti.jwks_cache_ms,
      jwksCooldownMs: lti.jwks_cooldown_ms, fetchTimeoutMs: lti.fetch_timeout_ms,
    }, { clock });
    this.identity = new LtiIdentityService({
      users: deps.users, userRepository: store.users, groups: store.groups, lti: store.lti, policies: deps.policies, audit,
      learnerRoles: lti.learner_roles, instructorRoles: lti.instructor_roles, institutionRoles: lti.institution_roles, clock,
    });
    this.deepLinking = new LtiDeepLinkingService(this.keys, tickets, { clock });
    this.roster = new LtiRosterService({
      lti: store.lti, groups: store.groups, identity: this.identity, keys: this.keys, audit, fetchTimeoutMs: lti.fetch_timeout_ms, clock,
    });
    this.registration = new LtiRegistrationService({ platforms: this.platforms, tickets, audit, toolName: lti.tool_name, fetchTimeoutMs: lti.fetch_timeout_ms, clock });
  }

  /** The user, their course group and membership, and where the launch goes. */
  async completeLaunch(launch: VerifiedLaunch): Promise<LaunchOutcome> {
    const { platform, claims } = launch;
    const user = await this.identity.linkUser(platform, {
      subject: launch.subject, roles: launch.roles,
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name
        : [claims.given_name, claims.family_name].filter((part) => typeof part === 'string').join(' ') || undefined,
    }, { touch: true });
    const context = claims[CLAIM.context] as { id?: unknown; title?: unknown; label?: unknown } | undefined;
    const nrps = claims[CLAIM.namesRoleService] as { context_memberships_url?: unknown } | undefined;
    let group: GroupRecord | undefined;
    let groupRole: GroupMemberRole | undefined;
    if (typeof context?.id === 'string' && context.id.length > 0 && context.id.length <= 255) {
      group = await this.identity.linkContext(platform, {
        id: context.id,
        title: typeof context.title === 'string' ? context.title : undefined,
        label: typeof context.label === 'string' ? context.label : undefined,
        membershipsUrl: typeof nrps?.context_memberships_url === 'string' && /^https?:\/\//.test(nrps.context_memberships_url) ? nrps.context_memberships_url : undefined,
      });
      groupRole = await this.identity.setMembership(group, user, launch.roles);
    }
    if (launch.messageType === DEEP_LINKING_REQUEST) {
      const settings = claims[CLAIM.deepLinkingSettings] as { deep_link_return_url: string; data?: unknown };
      const ticket: DeepLinkTicket = {
        platformId: platform.id, deploymentId: launch.deploymentId, returnUrl: settings.deep_link_return_url, userId: user.id,
        ...(typeof settings.data === 'string' ? { data: settings.data } : {}),
      };
      // Only those who may change the course pick what it links to.
      const allowed = groupRole === 'owner' || (group === undefined && isOwnerWithoutContext(launch.roles));
      return { kind: 'deep_linking', user, group, groupRole, ticket: this.deepLinking.ticket(ticket), allowed };
    }
    const custom = claims[CLAIM.custom] as Record<string, unknown> | undefined;
    const wanted = typeof custom?.model === 'string' && MODEL.test(custom.model) ? custom.model : this.defaultModel;
    return { kind: 'resource_link', user, group, groupRole, ...(wanted !== undefined ? { model: wanted } : {}) };
  }

  /**
   * The audit entry of a refused launch (the error page says the same to the user). No client
   * address: no table holds one (docs/privacy.md).
   */
  recordRefusal(error: LtiLaunchError): Promise<void> {
    const actor = error.platformId ? `lti:${error.platformId}` : 'lti:unknown';
    return this.audit.record(actor, 'lti.launch_refused', error.platformId ? { type: 'lti_platform', id: error.platformId } : undefined, {
      check: error.check, reason: error.message.slice(0, 300),
    });
  }

  /** Syncs the roster of every course of every platform (the scheduled job); failures are per course. */
  async syncAll(onError: (error: Error, where: { platform: string; context: string }) => void): Promise<RosterSyncResult[]> {
    const results: RosterSyncResult[] = [];
    for (const platform of await this.platforms.list()) {
      for (const context of await this.roster.contextsOf(platform.id)) {
        try {
          results.push(await this.roster.syncContext(platform, context, 'lti:roster-sync'));
        } catch (error) {
          onError(error as Error, { platform: platform.id, context: context.contextId });
        }
      }
    }
    return results;
  }
}

function isOwnerWithoutContext(roles: readonly string[]): boolean {
  return roles.some((role) => role.endsWith('#Instructor') || role.endsWith('#Administrator'));
}

/**
 * Runs `syncAll` every `intervalMs` (0: never); `stop()` waits for a run in progress. With several
 * replicas only the one leading the `roster-sync` job runs it (`isLeader`; default always).
 */
export class RosterSyncJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly lti: LtiService, private readonly intervalMs: number,
    private readonly onError: (error: Error, where: { platform: string; context: string }) => void,
    private readonly isLeader: () => boolean = () => true,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running || !this.isLeader()) return;
      this.running = this.lti.syncAll(this.onError).catch((error: unknown) => this.onError(error as Error, { platform: '*', context: '*' }))
        .finally(() => { this.running = undefined; });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
