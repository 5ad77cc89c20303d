import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlexiError } from '../core/errors.js';
import { toDisplayModelName } from '../core/model-name.js';
import type { UserRecord } from '../core/identity-records.js';
import type { Principal } from '../services/identity/access-control.service.js';
import type { SessionService } from '../services/identity/session.service.js';
import { CSRF_COOKIE, SESSION_COOKIE } from '../services/identity/session.service.js';
import type { ModelRegistry } from '../services/inference/model-registry.service.js';
import { LtiLaunchError } from '../services/lti/lti-errors.js';
import type { LoginRequest } from '../services/lti/lti-launch.service.js';
import { toolUrls } from '../services/lti/lti-registration.service.js';
import type { LtiService } from '../services/lti/lti.service.js';
import { autoPostPage, errorPage, LTI_SCRIPT, newWindowPage, pickerPage, registeredPage } from './lti-pages.js';
import { publicRoute } from './route-access.js';

/** Binds a login's state to the browser that started it. */
export const LTI_BROWSER_COOKIE = 'flexi_lti_browser';
const FORM_LIMIT_BYTES = 256 * 1024;

export interface LtiRouteDeps {
  lti: LtiService;
  sessions: SessionService;
  sessionTtlMs: number;
  registry: ModelRegistry;
  modelDescriptions: Readonly<Record<string, string>>;
  users: { findActive(id: string): Promise<UserRecord | undefined> };
  forUser: (user: UserRecord) => Principal;
  isModelVisible: (principal: Principal | undefined, model: string) => boolean;
  /** Course bots and templates the principal may use (the deep-linking picker offers them too). */
  listVirtualModels?: (principal: Principal) => Promise<{ name: string; description?: string }[]>;
}

/**
 * Cookies of the LTI flow: the platform posts the launch across sites and usually shows Flexi in
 * a frame, so they must be `SameSite=None` (hence `Secure`, which browsers accept on localhost
 * too). `Partitioned` (CHIPS) keeps them working in Chromium when third-party cookies are blocked:
 * they then belong to the platform's site only — exactly the LTI session.
 */
function crossSiteCookie(maxAgeS: number, options: { httpOnly: boolean; path: string }): CookieSerializeOptions {
  return { path: options.path, httpOnly: options.httpOnly, secure: true, sameSite: 'none', partitioned: true, maxAge: maxAgeS };
}

function fieldsOf(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {};
}

function loginRequestOf(value: Record<string, unknown>): LoginRequest {
  const pick = (name: string) => (typeof value[name] === 'string' ? value[name] : undefined);
  return {
    iss: pick('iss'), login_hint: pick('login_hint'), target_link_uri: pick('target_link_uri'), lti_message_hint: pick('lti_message_hint'),
    lti_deployment_id: pick('lti_deployment_id'), client_id: pick('client_id'),
  };
}

/** The launch, JWKS, login, deep-linking and registration endpoints under /lti (docs/lti.md). */
export async function registerLtiRoutes(app: FastifyInstance, deps: LtiRouteDeps): Promise<void> {
  const { lti } = deps;
  const toolUrl = (request: FastifyRequest) => lti.toolUrl ?? `${request.protocol}://${request.host}`;

  // Platforms show Flexi in a frame: let the registered ones frame its pages (the web UI too).
  app.addHook('onSend', (_request, reply, payload, done) => {
    const origins = lti.platforms.cachedFrameOrigins();
    const type = reply.getHeader('content-type');
    const policy = reply.getHeader('content-security-policy');
    if (origins.length > 0 && typeof type === 'string' && type.startsWith('text/html') && typeof policy === 'string') {
      reply.header('content-security-policy', policy.replace("frame-ancestors 'self'", `frame-ancestors 'self' ${origins.join(' ')}`));
    }
    done(null, payload);
  });
  await lti.platforms.frameOrigins().catch(() => undefined);

  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

  async function refuse(request: FastifyRequest, reply: FastifyReply, error: unknown): Promise<FastifyReply> {
    if (!(error instanceof LtiLaunchError)) throw error;
    await lti.recordRefusal(error);
    if (error.cookiesBlocked && error.relaunch) {
      const url = new URL(toolUrls(toolUrl(request)).login);
      for (const [name, value] of Object.entries(error.relaunch)) url.searchParams.set(name, value);
      return html(reply, 401, newWindowPage(url.href));
    }
    return html(reply, error.status, errorPage(error.check, error.message));
  }

  function startSession(reply: FastifyReply, token: string, csrfToken: string): void {
    const maxAgeS = Math.floor(deps.sessionTtlMs / 1000);
    reply.setCookie(SESSION_COOKIE, token, crossSiteCookie(maxAgeS, { httpOnly: true, path: '/' }));
    reply.setCookie(CSRF_COOKIE, csrfToken, crossSiteCookie(maxAgeS, { httpOnly: false, path: '/' }));
  }

  async function modelsFor(user: UserRecord): Promise<{ id: string; description: string }[]> {
    const principal = deps.forUser(user);
    const seen = new Map<string, string>();
    for (const entry of deps.registry.list()) {
      if (entry.info.capabilities?.includes('embedding') && !entry.info.capabilities.includes('completion')) continue;
      if (deps.isModelVisible(principal, entry.name)) seen.set(toDisplayModelName(entry.name), deps.modelDescriptions[entry.name] ?? '');
    }
    for (const { alias, entry } of deps.registry.aliasEntries()) {
      if (deps.isModelVisible(principal, entry.name)) seen.set(toDisplayModelName(alias), deps.modelDescriptions[alias] ?? '');
    }
    for (const virtual of (await deps.listVirtualModels?.(principal)) ?? []) seen.set(virtual.name, virtual.description ?? '');
    return [...seen].map(([id, description]) => ({ id, description })).sort((a, b) => a.id.localeCompare(b.id));
  }

  app.get('/lti/assets/lti.js', publicRoute(), async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(LTI_SCRIPT));

  app.get('/lti/jwks', publicRoute(), async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(await lti.keys.jwks()));

  await app.register(async (scope) => {
    // The platform posts HTML forms here; only this scope reads form bodies (the APIs read JSON).
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    const login = async (request: FastifyRequest, reply: FastifyReply) => {
      const params = loginRequestOf({ ...fieldsOf(request.query), ...fieldsOf(request.body) });
      try {
        const started = await lti.launches.startLogin(params, toolUrls(toolUrl(request)).launch, request.cookies[LTI_BROWSER_COOKIE]);
        reply.setCookie(LTI_BROWSER_COOKIE, started.browserId, crossSiteCookie(Math.ceil(lti.stateTtlMs / 1000), { httpOnly: true, path: '/lti' }));
        return reply.header('cache-control', 'no-store').redirect(started.url, 302);
      } catch (error) {
        return refuse(request, reply, error);
      }
    };
    scope.get('/lti/login', publicRoute(), login);
    scope.post('/lti/login', publicRoute(), login);

    scope.get('/lti/launch', publicRoute(), async (request, reply) =>
      refuse(request, reply, new LtiLaunchError('request', 'The platform must POST the launch (form_post with id_token and state) to this address.')));

    scope.post('/lti/launch', publicRoute(), async (request, reply) => {
      const body = fieldsOf(request.body);
      try {
        const launch = await lti.launches.verifyLaunch({ idToken: body.id_token, state: body.state, browserId: request.cookies[LTI_BROWSER_COOKIE] });
        const outcome = await lti.completeLaunch(launch);
        const { token, session } = await deps.sessions.create(outcome.user.id);
        startSession(reply, token, session.csrfToken);
        if (outcome.kind === 'deep_linking') {
          if (!outcome.allowed) return html(reply, 403, errorPage('roles', 'Only a teacher of the course can choose what Flexi shows here.'));
          return html(reply, 200, pickerPage({ ticket: outcome.ticket, models: await modelsFor(outcome.user), courseTitle: outcome.group?.name }));
        }
        return reply.redirect(outcome.model ? `/?model=${encodeURIComponent(outcome.model)}` : '/', 303);
      } catch (error) {
        if (error instanceof FlexiError && !(error instanceof LtiLaunchError)) {
          // Account problems (a disabled user): still a page, never JSON inside the course.
          return html(reply, error.status, errorPage('account', error.message));
        }
        return refuse(request, reply, error);
      }
    });

    scope.post('/lti/deep-link', publicRoute(), async (request, reply) => {
      const body = fieldsOf(request.body);
      try {
        const ticket = lti.deepLinking.readTicket(body.ticket);
        const user = await deps.users.findActive(ticket.userId);
        if (!user) throw new FlexiError('permission_denied', 'Your Flexi account is disabled or gone.');
        const model = typeof body.model === 'string' ? body.model : '';
        if (!(await modelsFor(user)).some((m) => m.id === model)) throw new FlexiError('invalid_request', `Choose one of the listed models (got "${model.slice(0, 100)}").`, { param: 'model' });
        const platform = (await lti.platforms.list()).find((p) => p.id === ticket.platformId);
        if (!platform) throw new FlexiError('not_found', 'The platform of this selection was removed.');
        const title = typeof body.title === 'string' && body.title.trim() ? body.title.trim().slice(0, 200) : `Flexi: ${model}`;
        const jwt = await lti.deepLinking.response(platform, ticket, { model, title, launchUrl: toolUrls(toolUrl(request)).launch });
        const csp = String(reply.getHeader('content-security-policy') ?? '').replace("form-action 'self'", `form-action 'self' ${new URL(ticket.returnUrl).origin}`);
        return html(reply.header('content-security-policy', csp), 200, autoPostPage('Returning to the course', ticket.returnUrl, { JWT: jwt }));
      } catch (error) {
        if (!(error instanceof FlexiError)) throw error;
        return html(reply, error.status, errorPage(error.param ?? 'deep_linking', error.message));
      }
    });

    scope.get('/lti/register', publicRoute(), async (request, reply) => {
      const query = fieldsOf(request.query);
      try {
        const platform = await lti.registration.register({
          token: query.token, openidConfiguration: query.openid_configuration, registrationToken: query.registration_token,
        }, toolUrl(request));
        return html(reply, 200, registeredPage(platform));
      } catch (error) {
        if (!(error instanceof FlexiError)) throw error;
        return html(reply, error.status, errorPage(error.param ?? 'registration', error.message));
      }
    });
  });
}
