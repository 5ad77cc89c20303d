import type { IncomingHttpHeaders } from 'node:http';
import { FlexiError } from '../../core/errors.js';
import type { UserRecord } from '../../core/identity-records.js';
import { matchesAny, parseScopes, requestedPriority, type EffectivePolicy, type KeyScopes, type PolicyService, type PriorityClass } from './policy.service.js';
import type { QuotaService } from './quota.service.js';
import { CSRF_HEADER, SESSION_COOKIE, type SessionService } from './session.service.js';

/** Who a request acts for, and what it may do. */
export interface Principal {
  /** How it authenticated. */
  via: 'api_key' | 'session' | 'anonymous';
  apiKeyId?: string;
  userId?: string;
  sessionId?: string;
  /** Accounting and fair-share subject: the user's pseudonym, `key:<id>` for operator keys. */
  subject: string;
  roles: string[];
  /** The first role (kept for code that predates several roles). */
  role?: string;
  policy: EffectivePolicy;
  priorityClass: PriorityClass;
  /** Narrower limits of the API key used, if any. */
  keyScopes?: KeyScopes;
  /** For session requests: what the X-CSRF-Token header must carry on state-changing requests. */
  csrfToken?: string;
  /** The group (course) the request acts for (`x-flexi-course`, checked against the key): usage is accounted to it. */
  course?: { id: string; name: string };
}

export interface VerifiedKey {
  id: string;
  role?: string | null;
  userId?: string | null;
  scopes?: string[] | null;
}

export interface KeyVerifier {
  verify(key: string): Promise<VerifiedKey | undefined>;
}

export interface AdmitRequest {
  endpoint: string;
  /** The resolved (canonical) model name. */
  model: string;
  /** What the client asked for (max_tokens / num_predict); undefined when it set none. */
  maxTokens?: number;
  /** Input tokens, bounded from above (token-estimate.ts): reserved on top of max tokens. */
  promptTokens?: number;
  /** The request field that carries the input (`messages`, `prompt`, `input`), named by `input_too_long`. */
  inputParam?: string;
}

/** A request that passed every limit and holds its quota reservation; exactly one of settle/cancel ends it. */
export interface AdmissionTicket {
  /** The max tokens to ask the node for when the request set none (the role's cap); undefined: no cap. */
  maxTokens: number | undefined;
  /** `x-ratelimit-*` headers' values after this request; the route writes them on its response. */
  rateLimit: Record<string, string>;
  settle(usage: { promptTokens: number; completionTokens: number }): void;
  cancel(): void;
}

/**
 * The port through which InferenceService asks whether a principal may run a request, injected
 * at construction (AccessControl implements it). The service holds the ticket and ends it; what
 * the client must be told (rate-limit headers) comes back on the result, for http/ to write.
 */
export interface Admission {
  /** Checks policy, limits and budgets, and reserves quota; throws the refusal's FlexiError. */
  admit(principal: Principal, request: AdmitRequest): Promise<AdmissionTicket>;
  /** Policy check only (requests that generate nothing, e.g. Ollama load/unload); throws permission_denied. */
  authorize(principal: Principal, request: { endpoint: string; model?: string }): void;
}

/** The shortest answer worth starting when a budget's remainder caps a request that set no max_tokens. */
const MIN_ANSWER_TOKENS = 16;

export interface AccessControlOptions {
  mode: 'keys' | 'none';
  keys?: KeyVerifier;
  users?: Pick<{ findActive(id: string): Promise<UserRecord | undefined> }, 'findActive'>;
  sessions?: SessionService;
  policies: PolicyService;
  quota: QuotaService;
  pseudonym: (userId: string) => string;
  /** `quota.default_max_tokens`. */
  defaultMaxTokens: number;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_KEY_CHARS = 256;

/**
 * A key with scopes reaches the admin API only with the `admin` scope; one without scopes keeps
 * what its user's (or its own) roles give, as keys made before scopes bound the admin API did.
 */
function narrowAdmin(policy: EffectivePolicy, scopes: KeyScopes | undefined): EffectivePolicy {
  return scopes && scopes.admin !== true && policy.admin ? { ...policy, admin: false } : policy;
}

/**
 * Reads `Authorization: Bearer …`, the `api-key` header (Azure-style clients, Moodle plugins) or
 * `Authorization: Basic …` whose password is the key (Moodle's Ollama provider has only HTTP basic
 * auth; the user name is free, e.g. the provider instance's name).
 */
export function extractApiKey(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
    const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      if (password !== '') return password;
    }
  }
  const apiKey = headers['api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  return undefined;
}

/** A request may ask for a lower scheduler class than its role's (e.g. `batch` for `flexi eval`). */
export const PRIORITY_HEADER = 'x-flexi-priority';

/**
 * The one place that decides who is asking and whether they may: API keys and session
 * cookies become a Principal with its effective policy; `admit` checks model, endpoint,
 * max tokens, rate limits and budgets before a request reaches the scheduler.
 */
export class AccessControl implements Admission {
  constructor(private readonly options: AccessControlOptions) {}

  get policies(): PolicyService {
    return this.options.policies;
  }

  /**
   * An API key wins over a session cookie. Session requests that change state must carry the
   * session's CSRF token in X-CSRF-Token (API-key requests are not exposed to CSRF).
   */
  async authenticate(headers: IncomingHttpHeaders, cookies: Record<string, string | undefined>, method = 'GET'): Promise<Principal> {
    const principal = await this.identify(headers, cookies, method);
    const priorityClass = requestedPriority(principal.priorityClass, headers[PRIORITY_HEADER]);
    return priorityClass === principal.priorityClass ? principal : { ...principal, priorityClass };
  }

  private async identify(headers: IncomingHttpHeaders, cookies: Record<string, string | undefined>, method: string): Promise<Principal> {
    const key = extractApiKey(headers);
    if (key !== undefined) return this.fromApiKey(key);
    const token = cookies[SESSION_COOKIE];
    if (token !== undefined && this.options.sessions) {
      const principal = await this.fromSession(token);
      if (principal) {
        if (!SAFE_METHODS.has(method.toUpperCase()) && headers[CSRF_HEADER] !== principal.csrfToken) {
          throw new FlexiError('permission_denied', `Missing or wrong ${CSRF_HEADER} header; send the token from GET /auth/me with every change.`);
        }
        return principal;
      }
      if (this.options.mode === 'keys') throw new FlexiError('unauthorized', 'Your session has ended or is invalid; log in again.');
    }
    if (this.options.mode === 'none') return this.anonymous();
    throw new FlexiError('unauthorized');
  }

  async fromApiKey(key: string): Promise<Principal> {
    const verified = key.length <= MAX_KEY_CHARS ? await this.options.keys?.verify(key) : undefined;
    if (!verified) throw new FlexiError('invalid_api_key');
    let keyScopes: KeyScopes | undefined;
    try {
      keyScopes = parseScopes(verified.scopes);
    } catch {
      // A key with scopes this version cannot read must not get wider rights than intended.
      throw new FlexiError('permission_denied', 'This API key carries scopes Flexi cannot read; create a new key.');
    }
    if (verified.userId) {
      const user = await this.options.users?.findActive(verified.userId);
      if (!user) throw new FlexiError('invalid_api_key', 'Invalid API key: its account is disabled or deleted.');
      const principal = this.forUser(user);
      return { ...principal, via: 'api_key', apiKeyId: verified.id, keyScopes, policy: narrowAdmin(principal.policy, keyScopes) };
    }
    // Operator keys (no user): the key's role, the admin role when it names none.
    const roles = [verified.role ?? 'admin'];
    const policy = narrowAdmin(this.options.policies.effective(roles), keyScopes);
    return {
      via: 'api_key', apiKeyId: verified.id, subject: `key:${verified.id}`, roles, role: roles[0], policy, priorityClass: policy.priority, keyScopes,
    };
  }

  /**
   * Endpoint scopes bind every route, not only inference: a key scoped to `/v1/models` cannot
   * reach `/auth/keys` or `/admin/v1`. `path` is the request's path in normal form.
   */
  authorizePath(principal: Principal, path: string): void {
    const endpoints = principal.keyScopes?.endpoints;
    if (endpoints && !matchesAny(endpoints, [path])) {
      throw new FlexiError('permission_denied', `This API key's scopes do not include ${path.slice(0, 200)}.`);
    }
  }

  private async fromSession(token: string): Promise<Principal | undefined> {
    const resolved = await this.options.sessions!.resolve(token);
    if (!resolved) return undefined;
    return { ...this.forUser(resolved.user), via: 'session', sessionId: resolved.session.id, csrfToken: resolved.session.csrfToken };
  }

  forUser(user: UserRecord): Principal {
    const policy = this.options.policies.effective(user.roles);
    return {
      via: 'session', userId: user.id, subject: this.options.pseudonym(user.id), roles: user.roles, role: user.roles[0], policy, priorityClass: policy.priority,
    };
  }

  /** Development mode without authentication: the admin role's limits, but no admin API. */
  private anonymous(): Principal {
    const policy = { ...this.options.policies.effective(['admin']), admin: false };
    return { via: 'anonymous', subject: 'anonymous', roles: ['admin'], role: 'admin', policy, priorityClass: policy.priority };
  }

  isModelVisible(principal: Principal | undefined, model: string): boolean {
    if (!principal) return false;
    return this.options.policies.isModelAllowed(principal.policy, principal.keyScopes, model);
  }

  /** Throws permission_denied when the endpoint (or model) is outside the policy or key scopes. */
  authorize(principal: Principal, request: { endpoint: string; model?: string }): void {
    const { policies } = this.options;
    if (!policies.isEndpointAllowed(principal.policy, principal.keyScopes, request.endpoint)) {
      throw new FlexiError('permission_denied', `You may not use ${request.endpoint}.`);
    }
    if (request.model !== undefined && !policies.isModelAllowed(principal.policy, principal.keyScopes, request.model)) {
      throw new FlexiError('permission_denied', `You may not use the model '${request.model}'.`, { param: 'model' });
    }
  }

  /** Checks everything and reserves quota; the caller settles or cancels the admission. */
  async admit(principal: Principal, request: AdmitRequest): Promise<AdmissionTicket> {
    this.authorize(principal, request);
    const { policy } = principal;
    const promptTokens = Math.max(0, Math.round(request.promptTokens ?? 0));
    if (policy.maxInputTokens !== null && promptTokens > policy.maxInputTokens) {
      throw new FlexiError('input_too_long',
        `The input counts up to ${promptTokens} tokens (UTF-8 bytes plus per-message overhead, a bound that never under-counts); `
        + `your role allows ${policy.maxInputTokens} (max_input_tokens).`, { param: request.inputParam });
    }
    const cap = policy.maxTokensPerRequest;
    if (request.maxTokens !== undefined && cap !== null && request.maxTokens > cap) {
      throw new FlexiError('invalid_request', `max_tokens ${request.maxTokens} is more than your role allows (${cap}).`, { param: 'max_tokens' });
    }
    const maxTokens = request.maxTokens ?? cap ?? undefined;
    // With a budget, a request that set no max_tokens may run on what is left of it, its answer
    // capped there; and the cap is always sent, so no answer can outgrow its reservation.
    const budgeted = policy.tokensPerDay !== null || policy.tokensPerWeek !== null || policy.tokensPerTerm !== null;
    const flexible = budgeted && request.maxTokens === undefined;
    const reservation = await this.options.quota.reserve(
      principal.subject, policy, (maxTokens ?? this.options.defaultMaxTokens) + promptTokens, flexible ? promptTokens + MIN_ANSWER_TOKENS : undefined,
    );
    return {
      maxTokens: flexible ? reservation.tokens - promptTokens : request.maxTokens === undefined ? maxTokens : undefined,
      rateLimit: reservation.headers,
      settle: (usage) => reservation.settle(usage.promptTokens + usage.completionTokens),
      cancel: () => reservation.cancel(),
    };
  }
}
