import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  addMemberRequestSchema, createGroupRequestSchema, createKeyRequestSchema, createUserRequestSchema, updateUserRequestSchema,
} from '../api/admin.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import type { AdminService } from '../services/identity/admin.service.js';
import type { AuditService } from '../services/identity/audit.service.js';
import type { PolicyService } from '../services/identity/policy.service.js';
import { USAGE_DIMENSIONS, usageToCsv, usageToJson, type UsageDimension, type UsageReportService } from '../services/identity/usage-report.service.js';
import { keyToJson, policyToJson, userToJson } from './identity-json.js';

const DAY_MS = 86_400_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/;

export interface AdminRouteDeps {
  admin: AdminService;
  audit: AuditService;
  policies: PolicyService;
  usage: UsageReportService;
}

/** The acting principal as written to the audit log; throws unless it holds an admin role. */
function actorOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (!principal?.policy.admin) throw new FlexiError('permission_denied', 'The admin API needs an admin role.');
  return principal.userId ? `user:${principal.userId}` : `key:${principal.apiKeyId ?? 'anonymous'}`;
}

/**
 * Like `actorOf`, for actions that make a credential: adding a user, granting roles, setting a
 * password. A key with scopes must never produce anything wider than itself, and a new admin user
 * (or a password for one) is exactly that — so these need a browser session or a key without scopes.
 */
function credentialActorOf(request: FastifyRequest): string {
  const actor = actorOf(request);
  if (request.principal?.keyScopes !== undefined) {
    throw new FlexiError('permission_denied', 'Adding users, granting roles and setting passwords need an admin session or an API key without scopes: a scoped key cannot make a credential wider than itself.');
  }
  return actor;
}

function param(request: FastifyRequest, name: string): string {
  return (request.params as Record<string, string>)[name]!;
}

function query(request: FastifyRequest): Record<string, string | undefined> {
  const raw = request.query as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? v : undefined]));
}

function parseSince(value: string | undefined, name: string, fallbackMs?: number): string | undefined {
  if (value === undefined) return fallbackMs === undefined ? undefined : new Date(fallbackMs).toISOString();
  if (!ISO_DAY.test(value) || Number.isNaN(Date.parse(value))) {
    throw new FlexiError('invalid_request', `${name} must be a date (YYYY-MM-DD) or an ISO time.`, { param: name });
  }
  return new Date(value).toISOString();
}

function parseLimit(value: string | undefined, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new FlexiError('invalid_request', `limit must be an integer from 1 to ${max}.`, { param: 'limit' });
  return n;
}

/** /admin/v1: users, roles (read), groups, keys, usage, audit. Every call needs an admin role; every change is audited. */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { admin } = deps;

  app.get('/admin/v1/users', async (request) => {
    actorOf(request);
    const q = query(request);
    const users = await admin.deps.users.list({
      search: q.search?.slice(0, 254), limit: parseLimit(q.limit, 1000, 100), offset: q.offset ? parseLimit(q.offset, 1_000_000, 0) : 0,
    });
    return { data: users.map(userToJson) };
  });

  app.post('/admin/v1/users', async (request, reply) => {
    const actor = credentialActorOf(request);
    const body = parseBody(createUserRequestSchema, request.body);
    const roles = body.roles ?? (body.role ? [body.role] : undefined);
    if (!roles) throw new FlexiError('invalid_request', 'Give the user at least one role (roles or role).', { param: 'roles' });
    const user = await admin.addUser(actor, { email: body.email, roles, password: body.password, displayName: body.display_name });
    return reply.code(201).send(userToJson(user));
  });

  app.get('/admin/v1/users/:id', async (request) => {
    actorOf(request);
    const shown = await admin.showUser(param(request, 'id'));
    return {
      ...userToJson(shown.user),
      groups: shown.groups,
      keys: shown.keys.map(keyToJson),
      identities: shown.identities.map((i) => ({ provider: i.provider, subject: i.subject, last_login_at: i.lastLoginAt })),
      policy: policyToJson(deps.policies.effective(shown.user.roles)),
    };
  });

  app.patch('/admin/v1/users/:id', async (request) => {
    const body = parseBody(updateUserRequestSchema, request.body);
    const actor = body.roles !== undefined || body.password !== undefined ? credentialActorOf(request) : actorOf(request);
    const id = (await admin.deps.users.get(param(request, 'id'))).id;
    if (body.roles) await admin.setRoles(actor, id, body.roles);
    if (body.disabled !== undefined) await admin.setDisabled(actor, id, body.disabled);
    if (body.password !== undefined) await admin.setPassword(actor, id, body.password);
    if (body.display_name !== undefined) await admin.deps.users.setDisplayName(id, body.display_name);
    return userToJson(await admin.deps.users.get(id));
  });

  app.get('/admin/v1/roles', async (request) => {
    actorOf(request);
    return {
      data: deps.policies.roleNames().map((name) => ({
        name, description: deps.policies.role(name)?.description ?? null, ...policyToJson(deps.policies.effective([name])),
      })),
    };
  });

  app.get('/admin/v1/groups', async (request) => {
    actorOf(request);
    return { data: (await admin.listGroups()).map((g) => ({ id: g.id, name: g.name, kind: g.kind, description: g.description, created_at: g.createdAt, members: g.members })) };
  });

  app.post('/admin/v1/groups', async (request, reply) => {
    const actor = actorOf(request);
    const body = parseBody(createGroupRequestSchema, request.body);
    const group = await admin.createGroup(actor, body);
    return reply.code(201).send({ id: group.id, name: group.name, kind: group.kind, description: group.description, created_at: group.createdAt });
  });

  app.get('/admin/v1/groups/:id', async (request) => {
    actorOf(request);
    const { group, members } = await admin.showGroup(param(request, 'id'));
    return {
      id: group.id, name: group.name, kind: group.kind, description: group.description, created_at: group.createdAt,
      members: members.map((m) => ({ user_id: m.userId, email: m.email, role: m.role, created_at: m.createdAt })),
    };
  });

  app.delete('/admin/v1/groups/:id', async (request, reply) => {
    await admin.deleteGroup(actorOf(request), param(request, 'id'));
    return reply.code(204).send();
  });

  app.post('/admin/v1/groups/:id/members', async (request, reply) => {
    const actor = actorOf(request);
    const body = parseBody(addMemberRequestSchema, request.body);
    await admin.addMember(actor, param(request, 'id'), body.user, body.role ?? 'member');
    return reply.code(204).send();
  });

  app.delete('/admin/v1/groups/:id/members/:user', async (request, reply) => {
    await admin.removeMember(actorOf(request), param(request, 'id'), param(request, 'user'));
    return reply.code(204).send();
  });

  app.get('/admin/v1/keys', async (request) => {
    actorOf(request);
    const user = query(request).user;
    return { data: (await admin.listKeys(user)).map(keyToJson) };
  });

  app.post('/admin/v1/keys', async (request, reply) => {
    const actor = actorOf(request);
    const body = parseBody(createKeyRequestSchema, request.body);
    const created = await admin.createKey(actor, {
      user: body.user, name: body.name, role: body.role, scopes: body.scopes, creatorScopes: request.principal?.keyScopes,
      expiresAt: body.expires_in_days === undefined ? undefined : new Date(Date.now() + body.expires_in_days * DAY_MS),
    });
    return reply.code(201).send({ key: created.key, ...keyToJson(created.record) });
  });

  app.delete('/admin/v1/keys/:id', async (request) => {
    const result = await admin.revokeKey(actorOf(request), param(request, 'id'), { byIdOnly: true });
    return { ...keyToJson(result.record), already_revoked: result.alreadyRevoked };
  });

  app.get('/admin/v1/usage', async (request, reply) => {
    actorOf(request);
    const q = query(request);
    const by = (q.by ?? 'model') as UsageDimension;
    if (!USAGE_DIMENSIONS.includes(by)) throw new FlexiError('invalid_request', `by must be one of ${USAGE_DIMENSIONS.join(', ')}.`, { param: 'by' });
    const since = parseSince(q.since, 'since', Date.now() - 30 * DAY_MS)!;
    const until = parseSince(q.until, 'until');
    const rows = await deps.usage.report(by, since, until);
    if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(usageToCsv(by, rows));
    return { by, since, until: until ?? null, data: usageToJson(rows, by) };
  });

  app.get('/admin/v1/audit', async (request) => {
    actorOf(request);
    const q = query(request);
    const entries = await deps.audit.list({ since: parseSince(q.since, 'since'), limit: parseLimit(q.limit, 1000, 100), targetId: q.target_id?.slice(0, 100) });
    return {
      data: entries.map((e) => ({
        id: e.id, created_at: e.createdAt, actor: e.actor, action: e.action, target_type: e.targetType, target_id: e.targetId, details: e.details,
      })),
    };
  });
}
