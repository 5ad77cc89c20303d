import type { PRIORITY_CLASSES, RolePolicyConfig } from '../../config/schema.js';
import { toDisplayModelName } from '../../core/model-name.js';

export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

/** What a principal may do: the combination of all its roles (see docs/identity.md). */
export interface EffectivePolicy {
  roles: string[];
  /** Glob patterns; a model matching any is allowed. */
  models: string[];
  endpoints: string[];
  /** null: unlimited. */
  maxTokensPerRequest: number | null;
  /** Largest input a request may carry, as the conservative estimate counts it (token-estimate.ts). */
  maxInputTokens: number | null;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  tokensPerDay: number | null;
  tokensPerWeek: number | null;
  tokensPerTerm: number | null;
  maxConcurrent: number | null;
  priority: PriorityClass;
  apiKeys: boolean;
  admin: boolean;
  /** Model the web UI selects first; null: the first one the user may use. */
  defaultModel: string | null;
}

/**
 * Narrower limits an API key carries (scopes `model:<glob>`, `endpoint:<glob>` and `admin`).
 * Endpoint globs bind every route (the request path); a key with scopes reaches the admin API
 * only with the `admin` scope.
 */
export interface KeyScopes {
  models?: string[];
  endpoints?: string[];
  /** The `admin` scope: the admin API stays open to this key (if its user's roles allow it). */
  admin?: boolean;
  /** `course:<glob>`: the groups (by name) this key may act for with the `x-flexi-course` header. */
  courses?: string[];
}

const SCOPE = /^(model|endpoint|course):(.{1,200})$/;

/** Parses `model:…` / `endpoint:…` / `admin` scope strings; throws a message naming the bad one. */
export function parseScopes(scopes: readonly string[] | null | undefined): KeyScopes | undefined {
  if (!scopes || scopes.length === 0) return undefined;
  const result: KeyScopes = {};
  for (const scope of scopes) {
    if (scope === 'admin') {
      result.admin = true;
      continue;
    }
    const match = SCOPE.exec(scope);
    if (!match) throw new Error(`scope "${scope.slice(0, 80)}" is not "model:<pattern>", "endpoint:<pattern>", "course:<pattern>" or "admin"`);
    const list = match[1] === 'model' ? (result.models ??= []) : match[1] === 'course' ? (result.courses ??= []) : (result.endpoints ??= []);
    list.push(match[2]!);
  }
  return result;
}

const globCache = new Map<string, RegExp>();

/** `*` matches any characters, `?` one; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 's');
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re;
}

/**
 * Whether every key with `inner` scopes can do no more than one with `outer` scopes (undefined:
 * unscoped, the widest). Conservative for globs: `inner`'s pattern, read as text, must match one
 * of `outer`'s, where an outer `?` may not stand for an inner `*` (which stands for many characters).
 */
export function areScopesWithin(inner: KeyScopes | undefined, outer: KeyScopes | undefined): boolean {
  if (!outer) return true;
  if (!inner) return false;
  if (inner.admin === true && outer.admin !== true) return false;
  return arePatternsWithin(inner.models, outer.models) && arePatternsWithin(inner.endpoints, outer.endpoints)
    && (inner.courses === undefined || arePatternsWithin(inner.courses, outer.courses ?? []));
}

function arePatternsWithin(inner: readonly string[] | undefined, outer: readonly string[] | undefined): boolean {
  if (!outer) return true;
  if (!inner) return false;
  return inner.every((pattern) => outer.some((wider) => globCoverRegExp(wider).test(pattern)));
}

function globCoverRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '[^*]');
  return new RegExp(`^${body}$`, 's');
}

export function matchesAny(patterns: readonly string[], values: readonly string[]): boolean {
  return patterns.some((pattern) => values.some((value) => globToRegExp(pattern).test(value)));
}

/** Names a model is matched under: `llama3:latest` also as `llama3`. */
function modelNames(model: string): string[] {
  const display = toDisplayModelName(model);
  return display === model ? [model] : [model, display];
}

/** Lower is served first; must list every class of the config's PRIORITY_CLASSES. */
const PRIORITY_RANK: Record<PriorityClass, number> = { interactive: 0, standard: 1, batch: 2 };

/**
 * The class a request runs in when it asks for one (`x-flexi-priority`): a client may lower its
 * own priority (an evaluation as `batch`), never raise it; unknown names are ignored.
 */
export function requestedPriority(own: PriorityClass, requested: string | string[] | undefined): PriorityClass {
  const name = Array.isArray(requested) ? requested[0] : requested;
  if (name === undefined || !Object.hasOwn(PRIORITY_RANK, name)) return own;
  return PRIORITY_RANK[name as PriorityClass] > PRIORITY_RANK[own] ? (name as PriorityClass) : own;
}

/** Most permissive of two limits, where null means unlimited. */
function wider(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/** Roles from the config and the rule that combines them. */
export class PolicyService {
  private readonly roles: ReadonlyMap<string, RolePolicyConfig>;
  private readonly cache = new Map<string, EffectivePolicy>();

  constructor(roles: Readonly<Record<string, RolePolicyConfig>>) {
    this.roles = new Map(Object.entries(roles));
  }

  roleNames(): string[] {
    return [...this.roles.keys()];
  }

  hasRole(name: string): boolean {
    return this.roles.has(name);
  }

  role(name: string): RolePolicyConfig | undefined {
    return this.roles.get(name);
  }

  /** Throws an Error naming the unknown role and the known ones. */
  assertRoles(names: readonly string[]): void {
    for (const name of names) {
      if (!this.roles.has(name)) throw new Error(`unknown role "${name.slice(0, 40)}"; known roles: ${this.roleNames().join(', ')}`);
    }
  }

  /**
   * The union of the roles: a model or endpoint allowed by any role is allowed, each limit is
   * the most generous one (unlimited wins), the priority is the highest, flags are or-ed.
   * Unknown role names count as nothing; no known role means nothing is allowed.
   */
  effective(roleNames: readonly string[]): EffectivePolicy {
    const known = [...new Set(roleNames)].filter((name) => this.roles.has(name)).sort();
    const cacheKey = known.join(',');
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    let policy: EffectivePolicy | undefined;
    for (const name of known) {
      const role = this.roles.get(name)!;
      const next: EffectivePolicy = {
        roles: [name],
        models: [...role.models],
        endpoints: [...role.endpoints],
        maxTokensPerRequest: role.max_tokens_per_request,
        maxInputTokens: role.max_input_tokens,
        requestsPerMinute: role.requests_per_minute,
        tokensPerMinute: role.tokens_per_minute,
        tokensPerDay: role.tokens_per_day,
        tokensPerWeek: role.tokens_per_week,
        tokensPerTerm: role.tokens_per_term,
        maxConcurrent: role.max_concurrent,
        priority: role.priority,
        apiKeys: role.api_keys,
        admin: role.admin,
        defaultModel: role.default_model ?? null,
      };
      policy = policy ? combine(policy, next) : next;
    }
    const result = Object.freeze(policy ?? denyAll());
    this.cache.set(cacheKey, result);
    return result;
  }

  isModelAllowed(policy: EffectivePolicy, scopes: KeyScopes | undefined, model: string): boolean {
    const names = modelNames(model);
    if (!matchesAny(policy.models, names)) return false;
    return !scopes?.models || matchesAny(scopes.models, names);
  }

  isEndpointAllowed(policy: EffectivePolicy, scopes: KeyScopes | undefined, endpoint: string): boolean {
    if (!matchesAny(policy.endpoints, [endpoint])) return false;
    return !scopes?.endpoints || matchesAny(scopes.endpoints, [endpoint]);
  }
}

function combine(a: EffectivePolicy, b: EffectivePolicy): EffectivePolicy {
  return {
    roles: [...a.roles, ...b.roles],
    models: [...new Set([...a.models, ...b.models])],
    endpoints: [...new Set([...a.endpoints, ...b.endpoints])],
    maxTokensPerRequest: wider(a.maxTokensPerRequest, b.maxTokensPerRequest),
    maxInputTokens: wider(a.maxInputTokens, b.maxInputTokens),
    requestsPerMinute: wider(a.requestsPerMinute, b.requestsPerMinute),
    tokensPerMinute: wider(a.tokensPerMinute, b.tokensPerMinute),
    tokensPerDay: wider(a.tokensPerDay, b.tokensPerDay),
    tokensPerWeek: wider(a.tokensPerWeek, b.tokensPerWeek),
    tokensPerTerm: wider(a.tokensPerTerm, b.tokensPerTerm),
    maxConcurrent: wider(a.maxConcurrent, b.maxConcurrent),
    priority: PRIORITY_RANK[a.priority] <= PRIORITY_RANK[b.priority] ? a.priority : b.priority,
    apiKeys: a.apiKeys || b.apiKeys,
    admin: a.admin || b.admin,
    // Roles arrive sorted by name: the first that sets a default model wins, the same for every user.
    defaultModel: a.defaultModel ?? b.defaultModel,
  };
}

function denyAll(): EffectivePolicy {
  return {
    roles: [], models: [], endpoints: [], maxTokensPerRequest: 0, maxInputTokens: 0, requestsPerMinute: 0, tokensPerMinute: 0,
    tokensPerDay: 0, tokensPerWeek: 0, tokensPerTerm: 0, maxConcurrent: 0, priority: 'batch', apiKeys: false, admin: false, defaultModel: null,
  };
}
