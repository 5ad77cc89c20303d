import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { acceptAgreementRequestSchema } from '../api/ui.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import type { AccessControl } from '../services/identity/access-control.service.js';
import type { AgreementService } from '../services/identity/agreement.service.js';

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a browser session may not do before its user accepted the agreement: anything under
 * /ui/v1 and /admin, and every change or generation under /v1, /api and /auth/keys. Reading
 * who one is (/auth/me), the agreement itself and the model lists stays open.
 */
export function isAgreementGated(method: string, url: string): boolean {
  const path = url.split('?')[0]!;
  // Export and erasure of one's own data are rights that must not depend on accepting new terms.
  if (path === '/ui/v1/me' || path.startsWith('/ui/v1/me/')) return false;
  if (path.startsWith('/ui/v1/') || path.startsWith('/admin/')) return true;
  if (SAFE_METHODS.has(method.toUpperCase())) return false;
  return path.startsWith('/v1/') || path.startsWith('/api/') || path === '/auth/keys' || path.startsWith('/auth/keys/');
}

/**
 * onRequest hook, added after the auth hook: refuses gated requests of browser sessions whose
 * user has not accepted the current agreement (403 agreement_required). API keys pass.
 */
export function agreementHook(agreement: AgreementService, access: AccessControl): onRequestHookHandler {
  const check = async (request: FastifyRequest): Promise<void> => {
    const principal = request.principal ?? (await access.authenticate(request.headers, request.cookies, request.method));
    if (principal.via !== 'session' || !principal.userId) return;
    await agreement.assertAccepted(principal.userId);
  };
  // Callback style: API-key requests (every inference request) pass without a promise.
  return (request, _reply, done) => {
    if (request.principal !== undefined && request.principal.via !== 'session') {
      done();
      return;
    }
    // The matched route, not the URL text (percent-encodings, absolute form).
    if (!isAgreementGated(request.method, request.routeOptions.url ?? request.url)) {
      done();
      return;
    }
    check(request).then(() => done(), done);
  };
}

/** `GET /auth/agreement` (text, version, whether accepted) and `POST /auth/agreement/accept`. */
export function registerAgreementRoutes(app: FastifyInstance, deps: { agreement: AgreementService; access: AccessControl }): void {
  async function userOf(request: FastifyRequest): Promise<string> {
    const principal = request.principal ?? await deps.access.authenticate(request.headers, request.cookies, request.method);
    if (!principal.userId) throw new FlexiError('permission_denied', 'Only a signed-in user accepts the user agreement.');
    return principal.userId;
  }

  app.get('/auth/agreement', async (request, reply) => {
    const userId = await userOf(request);
    return reply.header('cache-control', 'no-store').send(await deps.agreement.current(userId));
  });

  app.post('/auth/agreement/accept', async (request) => {
    const userId = await userOf(request);
    const body = parseBody(acceptAgreementRequestSchema, request.body);
    return deps.agreement.accept(userId, body.version);
  });
}
