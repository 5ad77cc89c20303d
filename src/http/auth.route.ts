import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { changePasswordRequestSchema, loginRequestSchema, selfKeyRequestSchema } from '../api/admin.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import type { Principal } from '../services/identity/access-control.service.js';
import type { Identity } from '../services/identity/identity.js';
import type { OidcTransaction } from '../services/identity/oidc.service.js';
import { CSRF_COOKIE, SESSION_COOKIE } from '../services/identity/session.service.js';
import type { ChatKeyService } from '../services/chat-key.service.js';
import { keyToJson, policyToJson, userToJson } from './identity-json.js';
import { publicRoute } from './route-access.js';

const OIDC_COOKIE = 'flexi_oidc';
const OIDC_COOKIE_MAX_AGE_S = 600;
const DAY_MS = 86_400_000;

export interface AuthRouteDeps {
  identity: Identity;
  /** `auto`: Secure when the request came over HTTPS (Fastify's `request.protocol`, which honours trust_proxy). */
  cookieSecure: boolean | 'auto';
  sessionTtlMs: number;
  /** Opens the user's chat key at sign-in (encrypted chats). */
  chatKeys: ChatKeyService;
}

/** Only local paths: `/chat`, never `//evil.example` or `https://…` (no open redirect). */
function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[\x21-\x7e]{0,500}$/.test(value) ? value : '/';
}

/**
 * Browser authentication: password login, single sign-on, logout, `GET /auth/me`, and a
 * user's own API keys. Sessions are an httpOnly cookie; changes need the session's CSRF token
 * in X-CSRF-Token (also readable from the `flexi_csrf` cookie, double-submit style).
 */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const { identity } = deps;
  const { users, sessions } = identity;
  if (!users || !sessions) throw new Error('auth routes need a database');

  const cookieOptions = (httpOnly: boolean): CookieSerializeOptions => ({
    path: '/', httpOnly, secure: deps.cookieSecure, sameSite: 'lax', maxAge: Math.floor(deps.sessionTtlMs / 1000),
  });

  /** `password`: the one the user signed in with (opens their chat key); undefined for single sign-on. */
  async function startSession(reply: FastifyReply, userId: string, password?: string): Promise<string> {
    const { token, session } = await sessions!.create(userId);
    if (password !== undefined) await deps.chatKeys.onPasswordLogin(userId, password, { id: session.id, token });
    else await deps.chatKeys.onSsoLogin(userId, { id: session.id, token });
    reply.setCookie(SESSION_COOKIE, token, cookieOptions(true));
    reply.setCookie(CSRF_COOKIE, session.csrfToken, cookieOptions(false));
    return session.csrfToken;
  }

  // The auth hook authenticated every non-public route already.
  async function principalOf(request: FastifyRequest): Promise<Principal> {
    return request.principal ?? identity.access.authenticate(request.headers, request.cookies, request.method);
  }

  app.post('/auth/login', publicRoute(), async (request, reply) => {
    // A cross-site form cannot send JSON without a CORS preflight: this stops login CSRF.
    if (!String(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      throw new FlexiError('unsupported_media_type', 'Send the login as application/json.');
    }
    const body = parseBody(loginRequestSchema, request.body);
    await identity.loginThrottle.check(body.email, request.ip);
    const user = await users.verifyPassword(body.email, body.password);
    if (!user) {
      await identity.loginThrottle.failed(body.email, request.ip);
      throw new FlexiError('unauthorized', 'Wrong e-mail or password.');
    }
    await identity.loginThrottle.succeeded(body.email, request.ip);
    const csrfToken = await startSession(reply, user.id, body.password);
    return { user: userToJson(user), csrf_token: csrfToken };
  });

  app.post('/auth/logout', async (request, reply) => {
    const principal = await principalOf(request);
    if (principal.sessionId) await sessions.revoke(principal.sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(CSRF_COOKIE, { path: '/' });
    return reply.code(204).send();
  });

  app.get('/auth/me', async (request) => {
    const principal = await principalOf(request);
    if (!principal.userId) {
      return { user: null, roles: principal.roles, policy: policyToJson(principal.policy), budgets: [] };
    }
    const user = await users.get(principal.userId);
    const budgets = await identity.quota.status(principal.subject, principal.policy);
    return {
      user: userToJson(user),
      roles: principal.roles,
      policy: policyToJson(principal.policy),
      budgets: budgets.map((b) => ({ period: b.period, limit: b.limit, used: b.used, resets_at: b.resetsAt })),
      csrf_token: principal.csrfToken ?? null,
    };
  });

  // A user's own password. Wrong current passwords count as failed logins (no brute force by
  // this door); every other session of the user ends, this one stays signed in.
  app.post('/auth/password', async (request, reply) => {
    const principal = await principalOf(request);
    if (!principal.userId || !principal.sessionId) throw new FlexiError('permission_denied', 'Change your password in a browser session, not with an API key.');
    const body = parseBody(changePasswordRequestSchema, request.body);
    const user = await users.get(principal.userId);
    await identity.loginThrottle.check(user.email, request.ip);
    try {
      await users.changePassword(user.id, body.current_password, body.new_password);
    } catch (error) {
      if ((error as FlexiError).param === 'current_password') await identity.loginThrottle.failed(user.email, request.ip);
      throw error;
    }
    await identity.loginThrottle.succeeded(user.email, request.ip);
    // The chat key is at hand in this session: wrap it with the new password (the old one no longer opens it).
    const token = request.cookies[SESSION_COOKIE];
    const chatKey = token ? await deps.chatKeys.keyOf(user.id, { id: principal.sessionId, token }) : undefined;
    await deps.chatKeys.onPasswordChanged(user.id, chatKey, body.new_password);
    await sessions.revokeAllOf(user.id, { except: principal.sessionId });
    await identity.audit.record(`user:${user.id}`, 'user.change_password', { type: 'user', id: user.id });
    return reply.code(204).send();
  });

  app.get('/auth/oidc/start', publicRoute(), async (request, reply) => {
    if (!identity.oidc) throw new FlexiError('not_found', 'Single sign-on is not configured (auth.oidc).');
    const redirectUri = `${request.protocol}://${request.host}/auth/oidc/callback`;
    const { url, transaction } = await identity.oidc.start(redirectUri, safeReturnTo((request.query as Record<string, unknown>).return_to));
    reply.setCookie(OIDC_COOKIE, JSON.stringify(transaction), {
      path: '/auth/oidc', httpOnly: true, secure: deps.cookieSecure, sameSite: 'lax', maxAge: OIDC_COOKIE_MAX_AGE_S, signed: true,
    });
    return reply.redirect(url, 302);
  });

  app.get('/auth/oidc/callback', publicRoute(), async (request, reply) => {
    if (!identity.oidc) throw new FlexiError('not_found', 'Single sign-on is not configured (auth.oidc).');
    const raw = request.cookies[OIDC_COOKIE];
    const unsigned = raw ? request.unsignCookie(raw) : undefined;
    if (!unsigned?.valid || !unsigned.value) throw new FlexiError('unauthorized', 'The single sign-on attempt expired or was tampered with; start again.');
    let transaction: OidcTransaction;
    try {
      transaction = JSON.parse(unsigned.value) as OidcTransaction;
    } catch {
      throw new FlexiError('unauthorized', 'The single sign-on attempt is unreadable; start again.');
    }
    reply.clearCookie(OIDC_COOKIE, { path: '/auth/oidc' });
    const query = Object.fromEntries(Object.entries(request.query as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
    if (query.error) throw new FlexiError('unauthorized', `The identity provider refused the login: ${query.error.slice(0, 100)}.`);
    const user = await identity.oidc.finish(query, transaction);
    await startSession(reply, user.id);
    return reply.redirect(safeReturnTo(transaction.returnTo), 302);
  });

  // A user's own API keys. Ids of other users' keys answer 404, exactly like unknown ids.
  async function keyOwner(request: FastifyRequest): Promise<string> {
    const principal = await principalOf(request);
    if (!principal.userId) throw new FlexiError('permission_denied', 'Only a signed-in user has own API keys.');
    if (!principal.policy.apiKeys) throw new FlexiError('permission_denied', 'Your role may not manage API keys; ask an administrator.');
    return principal.userId;
  }

  app.get('/auth/keys', async (request) => {
    const userId = await keyOwner(request);
    return { data: (await identity.keys.list({ userId })).map(keyToJson) };
  });

  app.post('/auth/keys', async (request, reply) => {
    const userId = await keyOwner(request);
    const body = parseBody(selfKeyRequestSchema, request.body);
    const created = await identity.admin.createKey(`user:${userId}`, {
      user: userId, name: body.name, scopes: body.scopes, creatorScopes: request.principal?.keyScopes,
      expiresAt: body.expires_in_days === undefined ? undefined : new Date(Date.now() + body.expires_in_days * DAY_MS),
    });
    return reply.code(201).send({ key: created.key, ...keyToJson(created.record) });
  });

  app.delete('/auth/keys/:id', async (request) => {
    const userId = await keyOwner(request);
    const id = (request.params as { id: string }).id;
    const key = await identity.keys.findById(id);
    if (!key || key.userId !== userId) throw new FlexiError('not_found', 'No such API key.');
    const result = await identity.admin.revokeKey(`user:${userId}`, id, { byIdOnly: true });
    return keyToJson(result.record);
  });
}
