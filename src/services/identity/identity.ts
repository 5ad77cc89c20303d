import type { Config } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import { MemoryCounterStore, type CounterStore } from '../../store/counter-store.js';
import type { Store } from '../../store/store.js';
import { AccessControl } from './access-control.service.js';
import { AdminService } from './admin.service.js';
import { ApiKeyService } from './api-key.service.js';
import { AuditService } from './audit.service.js';
import { CourseContextService } from './course-context.service.js';
import { LoginThrottle } from './login-throttle.js';
import { OidcService } from './oidc.service.js';
import { PolicyService } from './policy.service.js';
import { createPseudonymizer } from './pseudonym.js';
import { QuotaService } from './quota.service.js';
import { SessionService } from './session.service.js';
import { UsageReportService } from './usage-report.service.js';
import { UserService } from './user.service.js';

/** Everything that knows who is asking; built once per process (or CLI command). */
export interface Identity {
  policies: PolicyService;
  quota: QuotaService;
  access: AccessControl;
  pseudonym: (userId: string) => string;
  counters: CounterStore;
  keys: ApiKeyService;
  users: UserService;
  sessions: SessionService;
  audit: AuditService;
  admin: AdminService;
  usageReport: UsageReportService;
  loginThrottle: LoginThrottle;
  /** Present when `auth.oidc` is configured. */
  oidc?: OidcService;
  /** `x-flexi-course`: a key acting for a course. */
  courses: CourseContextService;
  close(): Promise<void>;
}

export interface IdentityOptions {
  config: Config;
  /** Required: tests without a database of their own use an in-memory SQLite store (test/helpers/db.ts). */
  store: Store;
  /** Defaults to memory counters (one process). */
  counters?: CounterStore;
  clock?: Clock;
  warn?: (message: string, details?: Record<string, unknown>) => void;
}

export function createIdentity(options: IdentityOptions): Identity {
  const { config, store, clock } = options;
  const counters = options.counters ?? new MemoryCounterStore();
  const policies = new PolicyService(config.roles);
  const pseudonym = createPseudonymizer(config.privacy.pseudonym_secret);
  const quota = new QuotaService({
    counters,
    usedSince: (subject, since) => store.usage.sumTokensSince(subject, since),
    termStarts: config.quota.term_starts,
    reservationTtlMs: config.quota.reservation_ttl_ms,
    clock,
    warn: options.warn,
  });
  const loginThrottle = new LoginThrottle({
    counters, freeAttempts: config.auth.login_free_attempts, backoffMs: config.auth.login_backoff_ms, windowMs: config.auth.login_window_ms,
    failuresPerAddress: config.auth.login_failures_per_address, clock,
  });
  const keys = new ApiKeyService(store.apiKeys, { revocations: counters, clock, warn: options.warn });
  const users = new UserService(store.users, policies, { clock });
  const sessions = new SessionService(store.sessions, users, config.auth.session_ttl_ms, { clock });
  const audit = new AuditService(store.audit, { clock });
  const access = new AccessControl({
    mode: config.auth.mode, keys, users, sessions, policies, quota, pseudonym, defaultMaxTokens: config.quota.default_max_tokens,
  });
  const admin = new AdminService({ users, keys, groups: store.groups, audit, policies, sessions, now: clock ? () => clock.now() : undefined });
  const usageReport = new UsageReportService({
    summarizeBySubject: (since, until) => store.usage.summarizeBySubject(since, until),
    listUsers: () => store.users.listAll(),
    listKeys: () => keys.list(),
    membershipsByUser: () => store.groups.membershipsByUser(),
    groupNames: async () => new Map((await store.groups.list()).map((group) => [group.id, group.name])),
    pseudonym,
  });
  const oidc = config.auth.oidc ? new OidcService(config.auth.oidc, users) : undefined;
  return {
    policies, quota, access, pseudonym, counters, keys, users, sessions, audit, admin, usageReport, loginThrottle, oidc,
    courses: new CourseContextService(store.groups),
    close: async () => {
      await keys.close();
      if (!options.counters) await counters.close();
    },
  };
}

/** Warnings about settings that are fine for development only. */
export function identityWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.privacy.pseudonym_secret.startsWith('flexi-dev-')) warnings.push('privacy.pseudonym_secret is the development default; set FLEXI_PRIVACY_PSEUDONYM_SECRET to a long random value.');
  if (config.auth.cookie_secret.startsWith('flexi-dev-')) warnings.push('auth.cookie_secret is the development default; set FLEXI_AUTH_COOKIE_SECRET to a long random value.');
  if (config.auth.mode === 'none') warnings.push('auth.mode is none: anyone who reaches this server can use every model.');
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.server.host);
  if (!loopback && config.metrics.bearer_token === undefined && config.metrics.allow_from.length === 0) {
    warnings.push('/metrics is open to anyone who reaches this server; set metrics.bearer_token or metrics.allow_from (docs/security.md).');
  }
  if (config.auth.oidc) warnings.push(...oidcWarnings(config.auth.oidc, new PolicyService(config.roles)));
  return warnings;
}

function oidcWarnings(oidc: NonNullable<Config['auth']['oidc']>, policies: PolicyService): string[] {
  try {
    policies.assertRoles([...oidc.default_roles, ...oidc.role_mappings.flatMap((m) => m.roles)]);
  } catch (error) {
    return [`auth.oidc: ${(error as Error).message}`];
  }
  // The default `guest` role grants no model: a user no mapping rule matches signs in and then
  // finds an empty model list, which looks like a broken installation rather than a policy.
  if (policies.effective(oidc.default_roles).models.length === 0) {
    const roles = oidc.default_roles.join(', ') || '(none)';
    return [`auth.oidc.default_roles (${roles}) grant no model: users that no auth.oidc.role_mappings rule matches can sign in but use nothing. `
      + `Give the role models (roles.${oidc.default_roles[0] ?? 'guest'}.models) or set auth.oidc.default_roles to a role that has some.`];
  }
  return [];
}
