import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FlexiError } from '../core/errors.js';
import type { ChatKeyService } from '../services/chat-key.service.js';
import { sessionOf } from './chat-owner.js';
import type { Principal } from '../services/identity/access-control.service.js';
import type { Identity } from '../services/identity/identity.js';
import type { PrivacyService } from '../services/privacy/privacy.service.js';
import { CSRF_COOKIE, SESSION_COOKIE } from '../services/identity/session.service.js';

export interface PrivacyRouteDeps {
  privacy: PrivacyService;
  identity: Identity;
  /** Encrypted chats: the session's key makes the user's own export readable. */
  chatKeys: ChatKeyService;
}

const MAX_PASSWORD_CHARS = 1024;

/**
 * A user's rights over their own data: `GET /ui/v1/me/export` (everything stored about them,
 * as a JSON download) and `DELETE /ui/v1/me` (erase the account and everything linked to it).
 * Browser sessions only: an API key that leaks must not be able to erase or download an
 * account. Erasure needs the CSRF token and the password (local accounts) or the account's
 * e-mail typed again as `confirm` (single-sign-on accounts).
 */
export function registerPrivacyRoutes(app: FastifyInstance, deps: PrivacyRouteDeps): void {
  const { privacy, identity } = deps;
  const users = identity.users;
  if (!users) throw new Error('privacy routes need a database');

  async function sessionUser(request: FastifyRequest): Promise<Principal & { userId: string }> {
    // /ui/ is outside the global auth hook (it also serves pages); authenticate here, CSRF included.
    const principal = request.principal ?? await identity.access.authenticate(request.headers, request.cookies, request.method);
    if (principal.via !== 'session' || !principal.userId) {
      throw new FlexiError('permission_denied', 'Sign in with the browser to export or erase your data; API keys cannot.');
    }
    return principal as Principal & { userId: string };
  }

  app.get('/ui/v1/me/export', async (request, reply) => {
    const principal = await sessionUser(request);
    // A session that holds no chat key (chats locked after a password reset) still gets its export, sealed.
    const chatKey = deps.chatKeys.enabled ? await deps.chatKeys.keyOf(principal.userId, sessionOf(request)).catch(() => undefined) : undefined;
    const exported = await privacy.exportUser(`user:${principal.userId}`, principal.userId, { chatKey });
    const day = exported.exported_at.slice(0, 10);
    return reply
      .header('content-disposition', `attachment; filename="flexi-my-data-${day}.json"`)
      .header('cache-control', 'no-store')
      .send(exported);
  });

  app.delete('/ui/v1/me', async (request, reply) => {
    const principal = await sessionUser(request);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const user = await users.get(principal.userId);
    if (typeof body.password === 'string') {
      if (body.password.length > MAX_PASSWORD_CHARS) throw new FlexiError('invalid_request', 'password is too long.', { param: 'password' });
      await identity.loginThrottle.check(user.email, request.ip);
      if (!(await users.verifyPassword(user.email, body.password))) {
        await identity.loginThrottle.failed(user.email, request.ip);
        // 403, not 401: the session is fine, and a 401 would tell the web UI to sign the user out.
        throw new FlexiError('permission_denied', 'Wrong password; your account was not erased.');
      }
    } else if (typeof body.confirm === 'string') {
      if (await privacy.hasPassword(user.email)) {
        throw new FlexiError('invalid_request', 'Your account has a password: send it as password to erase the account.', { param: 'password' });
      }
      if (body.confirm.trim().toLowerCase() !== user.email) {
        throw new FlexiError('invalid_request', 'confirm must be your e-mail address, typed again.', { param: 'confirm' });
      }
    } else {
      throw new FlexiError('invalid_request', 'Send your password as password (or, for single-sign-on accounts, your e-mail address as confirm) to erase your account.', { param: 'password' });
    }
    const result = await privacy.eraseUser(`user:${principal.userId}`, principal.userId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(CSRF_COOKIE, { path: '/' });
    return { erased: true, reference: result.reference };
  });
}
