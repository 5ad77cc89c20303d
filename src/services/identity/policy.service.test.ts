import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { areScopesWithin, globToRegExp, parseScopes, PolicyService } from './policy.service.js';

const config = loadConfig({
  fileText: `
roles:
  student: { models: ['llama3*', 'qwen*:7b'], max_tokens_per_request: 1024, requests_per_minute: 10, tokens_per_day: 1000, max_concurrent: 1, priority: interactive }
  tutor:   { models: ['mistral*'], endpoints: ['/v1/*'], max_tokens_per_request: 4096, requests_per_minute: 30, tokens_per_day: null, max_concurrent: 4, priority: batch, api_keys: true }
`,
});
const policies = new PolicyService(config.roles);

describe('PolicyService', () => {
  it('keeps the default roles next to configured ones', () => {
    expect(policies.roleNames()).toEqual(expect.arrayContaining(['admin', 'staff', 'researcher', 'student', 'guest', 'tutor']));
    expect(policies.effective(['admin']).admin).toBe(true);
  });

  it('combines roles: union of models, most generous limits (unlimited wins), highest priority, or-ed flags', () => {
    const both = policies.effective(['student', 'tutor']);
    expect(both.models).toEqual(['llama3*', 'qwen*:7b', 'mistral*']);
    expect(both.endpoints).toEqual(['*', '/v1/*']);
    expect(both).toMatchObject({
      maxTokensPerRequest: 4096, requestsPerMinute: 30, tokensPerDay: null, maxConcurrent: 4, priority: 'interactive', apiKeys: true, admin: false,
    });
    expect(policies.effective(['tutor', 'student'])).toEqual(both);
  });

  it('allows nothing for no or unknown roles', () => {
    const none = policies.effective(['wizard']);
    expect(none.models).toEqual([]);
    expect(policies.isModelAllowed(none, undefined, 'llama3:8b')).toBe(false);
    expect(() => policies.assertRoles(['student', 'wizard'])).toThrow(/unknown role "wizard"; known roles: .*student/);
  });

  it('matches models by glob under their full and short names', () => {
    const student = policies.effective(['student']);
    expect(policies.isModelAllowed(student, undefined, 'llama3:latest')).toBe(true);
    expect(policies.isModelAllowed(student, undefined, 'llama3.1:70b')).toBe(true);
    expect(policies.isModelAllowed(student, undefined, 'qwen2.5:7b')).toBe(true);
    expect(policies.isModelAllowed(student, undefined, 'qwen2.5:72b')).toBe(false);
    expect(policies.isModelAllowed(student, undefined, 'xllama3')).toBe(false);
  });

  it('narrows by key scopes, never widens', () => {
    const tutor = policies.effective(['tutor']);
    const scopes = parseScopes(['model:mistral-small*', 'endpoint:/v1/chat/*', 'model:llama3*']);
    expect(policies.isModelAllowed(tutor, scopes, 'mistral-small:latest')).toBe(true);
    expect(policies.isModelAllowed(tutor, scopes, 'mistral-large:latest')).toBe(false);
    expect(policies.isModelAllowed(tutor, scopes, 'llama3:8b')).toBe(false);
    expect(policies.isEndpointAllowed(tutor, scopes, '/v1/chat/completions')).toBe(true);
    expect(policies.isEndpointAllowed(tutor, scopes, '/v1/embeddings')).toBe(false);
    expect(policies.isEndpointAllowed(tutor, undefined, '/api/chat')).toBe(false);
  });

  it('parses scopes strictly and globs literally', () => {
    expect(() => parseScopes(['models:x'])).toThrow(/not "model:<pattern>"/);
    expect(parseScopes([])).toBeUndefined();
    expect(globToRegExp('a.b*').test('a.bcd')).toBe(true);
    expect(globToRegExp('a.b*').test('axbcd')).toBe(false);
    expect(globToRegExp('(x)?').test('(x)y')).toBe(true);
  });

  it('parses the admin scope', () => {
    expect(parseScopes(['admin', 'model:a*'])).toEqual({ admin: true, models: ['a*'] });
  });

  it('decides whether scopes lie within others, conservatively for globs', () => {
    const within = (inner: string[] | null, outer: string[] | null) => areScopesWithin(parseScopes(inner), parseScopes(outer));
    expect(within(null, null)).toBe(true);
    expect(within(['model:a'], null)).toBe(true);
    expect(within(null, ['model:a*'])).toBe(false);
    expect(within(['model:llama3:8b'], ['model:llama3*'])).toBe(true);
    expect(within(['model:llama3*'], ['model:llama3*'])).toBe(true);
    expect(within(['model:llama*'], ['model:llama3*'])).toBe(false);
    // An outer `?` is one character; an inner `*` may be many.
    expect(within(['model:a*c'], ['model:a?c'])).toBe(false);
    expect(within(['model:a?c'], ['model:a?c'])).toBe(true);
    expect(within(['model:a.c'], ['model:a?c'])).toBe(true);
    // A dimension the outer key restricts must be restricted by the inner one too.
    expect(within(['endpoint:/v1/*'], ['model:a*'])).toBe(false);
    expect(within(['model:a1', 'endpoint:/v1/*'], ['model:a*'])).toBe(true);
    expect(within(['admin', 'model:a1'], ['model:a*'])).toBe(false);
    expect(within(['admin', 'model:a1'], ['admin', 'model:a*'])).toBe(true);
  });
});
