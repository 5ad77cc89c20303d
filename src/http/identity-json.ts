import type { AdminApiKey } from '../api/admin.js';
import type { EffectivePolicy } from '../services/identity/policy.service.js';
import type { ApiKeyRecord, UserRecord } from '../core/identity-records.js';

/** Wire shapes (snake_case) of identity records; never a key, a hash or a password. */
export function userToJson(user: UserRecord) {
  return {
    id: user.id,
    email: user.email,
    display_name: user.displayName,
    roles: user.roles,
    created_at: user.createdAt,
    last_login_at: user.lastLoginAt,
    disabled: user.disabledAt !== null,
    disabled_at: user.disabledAt,
  };
}

export function keyToJson(key: ApiKeyRecord): AdminApiKey {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    user_id: key.userId,
    role: key.role,
    scopes: key.scopes,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    last_used_at: key.lastUsedAt,
    revoked_at: key.revokedAt,
  };
}

export function policyToJson(policy: EffectivePolicy) {
  return {
    models: policy.models,
    endpoints: policy.endpoints,
    max_tokens_per_request: policy.maxTokensPerRequest,
    max_input_tokens: policy.maxInputTokens,
    requests_per_minute: policy.requestsPerMinute,
    tokens_per_minute: policy.tokensPerMinute,
    tokens_per_day: policy.tokensPerDay,
    tokens_per_week: policy.tokensPerWeek,
    tokens_per_term: policy.tokensPerTerm,
    max_concurrent: policy.maxConcurrent,
    priority: policy.priority,
    api_keys: policy.apiKeys,
    admin: policy.admin,
    default_model: policy.defaultModel,
  };
}
