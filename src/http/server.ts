import { existsSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { FlexiError } from '../core/errors.js';
import { randomId } from '../lib/ids.js';
import { registerAdminNodeRoutes } from './admin-nodes.route.js';
import { drainRefusedBody, parseJsonBody } from './body-parser.js';
import { registerAdminModelRoutes } from './admin-models.route.js';
import { registerAdminRoutes } from './admin.route.js';
import { agreementHook, registerAgreementRoutes } from './agreement.route.js';
import { registerChatRoutes } from './chats.route.js';
import { registerChatAnswerRoutes } from './chat-answers.route.js';
import { registerCollectionRoutes } from './collections.route.js';
import { registerAuthRoutes } from './auth.route.js';
import { registerLtiRoutes } from './lti.route.js';
import type { Principal } from '../services/identity/access-control.service.js';
import { COURSE_HEADER } from '../services/identity/course-context.service.js';
import type { Services } from '../services/build-services.js';
import { errorHeaders, errorBody, fromFrameworkError, protocolOf, sendError } from './errors.js';
import { registerOllamaRoutes, registerOllamaVersionRoute } from './ollama.route.js';
import { registerOpenAiRoutes } from './openai.route.js';
import { registerPrivacyRoutes } from './privacy.route.js';
import { registerEnergyRoutes } from './energy.route.js';
import { registerTemplateRoutes } from './templates.route.js';
import { registerSystemRoutes, type MetricsAccess } from './system.route.js';
import { cutSilentConnections, requestTimeouts, UnauthenticatedRequestLimit, type ClientLimits } from './client-limits.js';
import { findTargetProblem, isPublicRoute, publicRoute, registerPublicPlugin } from './route-access.js';


/**
 * Sent with every response. The web UI loads only its own bundle (no inline scripts; Preact sets
 * styles through the DOM, which CSP allows), so a strict policy costs nothing and turns an
 * injected script into a blocked one. `frame-ancestors 'self'`: no other site may frame Flexi.
 * `style-src-attr 'unsafe-inline'`: style *attributes* (never `<style>` elements, never script)
 * are allowed, because Chromium checks them while DOMPurify parses a model's answer — KaTeX's
 * error markup and any `style=` a model writes raised violations (and blocked KaTeX's error colour)
 * although the sanitiser strips every `style` from model output anyway. A style attribute cannot
 * run script, and what it could fetch (`url()`) stays limited to 'self' by img-src and font-src.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    + "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

export interface HttpServerDeps {
  bodyLimitBytes: number;
  trustProxy: boolean;
  /** Slow and unauthenticated clients (docs/security.md). */
  clientLimits: ClientLimits;
  /** `max-age` of Strict-Transport-Security in seconds; undefined: no HSTS (`server.hsts`). */
  hstsMaxAgeS?: number;
  /** Built by `buildServices`; the server only routes to them. */
  services: Services;
  cookies: { secret: string; secure: boolean | 'auto'; sessionTtlMs: number };
  /** Who may read /metrics (`metrics.*`); neither set: anyone. */
  metricsAccess: MetricsAccess;
  /** What the web UI's chats API tells the browser. */
  ui: { modelDescriptions: Readonly<Record<string, string>>; sso: boolean };
  /** Folder of the built web UI (web/dist); a placeholder page when missing. */
  webRoot?: string;
  /** Logs errors that are Flexi's fault (500s), with the request id. */
  logError: (message: string, fields: Record<string, unknown>) => void;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Paths the web UI owns (not an API prefix). */
function isWebPage(url: string): boolean {
  return !/^\/(v1|api|admin\/v1|auth|ui|metrics|healthz|readyz|assets)(\/|$|\?)/.test(url);
}

export async function createHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { identity, privacy, chats, agreement, registry, inference, metrics, readiness, dispatcher, nodeAdmin, modelManager, templates } = deps.services;
  const access = identity.access;
  const timeouts = requestTimeouts(deps.clientLimits);
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes,
    trustProxy: deps.trustProxy,
    // Streams can run for minutes: these bound receiving the request only (see requestTimeouts).
    requestTimeout: timeouts.requestTimeout,
    http: timeouts,
    keepAliveTimeout: 65_000,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomId(20)}`;
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
  });

  const hasWebUi = deps.webRoot !== undefined && existsSync(deps.webRoot);
  const isWebPageRequest = (request: FastifyRequest): boolean => hasWebUi && request.method === 'GET' && isWebPage(request.url)
    && String(request.headers.accept ?? '').includes('text/html');

  await app.register(fastifyCookie, { secret: deps.cookies.secret });
  app.decorateRequest('principal', undefined);
  app.decorateRequest('startedAtMs', 0);
  cutSilentConnections(app.server, timeouts.headersTimeout);
  const unauthenticated = new UnauthenticatedRequestLimit(deps.clientLimits.unauthenticatedPerAddress);
  const securityHeaders = deps.hstsMaxAgeS === undefined
    ? SECURITY_HEADERS
    : { ...SECURITY_HEADERS, 'strict-transport-security': `max-age=${deps.hstsMaxAgeS}; includeSubDomains` };

  // Any content type is read as JSON (Ollama accepts bodies without one; curl sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Callback-style hooks, not async ones: they run on every request, and an async hook costs a
  // promise and its microtasks even when it has nothing to wait for.
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAtMs = performance.now();
    reply.header('x-request-id', request.id);
    reply.headers(securityHeaders);
    // Behind Flexi a load test against sim nodes reports simulated time, like against the sim itself.
    const simSpeed = registry.simSpeed();
    if (simSpeed !== undefined) reply.header('x-sim-speed', String(simSpeed));
    const problem = findTargetProblem(request.url);
    if (problem !== undefined) {
      done(new FlexiError('invalid_request', problem));
      return;
    }
    // Decided on the route the router matched (onRequest runs after routing), never on the URL
    // text: a route is public only when it says so; unknown paths need credentials too.
    if (isPublicRoute(request) || (request.is404 && isWebPageRequest(request))) {
      done();
      return;
    }
    access.authenticate(request.headers, request.cookies, request.method).then((principal) => {
      request.principal = principal;
      try {
        access.authorizePath(principal, request.url.split('?')[0]!);
      } catch (error) {
        done(error as FlexiError);
        return;
      }
      if (request.headers[COURSE_HEADER] === undefined) {
        done();
        return;
      }
      // A key acting for a course (docs/moodle.md): checked here, so a refused header never reaches a handler.
      identity.courses.apply(principal, request.headers[COURSE_HEADER]).then((acting) => {
        request.principal = acting;
        done();
      }, done);
    }, done);
  });

  // After the auth hook: a request it verified is not counted against its address.
  app.addHook('onRequest', unauthenticated.admit);
  app.addHook('onRequest', agreementHook(agreement, access));

  app.addHook('onResponse', (request, reply, done) => {
    metrics.onHttpResponse(request.routeOptions.url ?? 'unmatched', reply.statusCode);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = fromFrameworkError(error);
    if (failure.status >= 500 && failure.code === 'internal_error') {
      deps.logError('request failed', { requestId: request.id, url: request.url, error: (error as Error).stack ?? String(error) });
    }
    if (reply.sent || reply.raw.headersSent) return;
    if (failure.code === 'payload_too_large' && !request.raw.complete) {
      // Fastify asks to close at once; the connection stays until the rest has arrived instead.
      reply.removeHeader('connection');
      drainRefusedBody(request.raw);
    }
    sendError(reply, failure, protocolOf(request.routeOptions.url ?? request.url));
  });

  app.setNotFoundHandler((request, reply) => {
    // The web UI routes in the browser (/chat/<id>, /settings…): unknown pages get its index.
    if (isWebPageRequest(request)) {
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    }
    const failure = new FlexiError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}.`);
    reply.code(404).headers(errorHeaders(failure)).send(errorBody(failure, protocolOf(request.url)));
  });

  registerSystemRoutes(app, { metrics, readiness, metricsAccess: deps.metricsAccess });
  registerOllamaVersionRoute(app);
  const isModelVisible = (principal: Principal | undefined, model: string) => access.isModelVisible(principal, model);
  registerOpenAiRoutes(app, { inference, registry, isModelVisible, imageUrls: deps.services.imageUrls });
  registerOllamaRoutes(app, { inference, registry, isModelVisible });
  registerAdminNodeRoutes(app, { nodeAdmin, dispatcher, registry });
  registerAdminModelRoutes(app, {
    manager: modelManager,
    isAdmin: (request) => request.principal?.policy.admin === true,
    onModelsChanged: () => registry.refresh(),
    catalog: deps.services.catalogFile,
  });
  registerAuthRoutes(app, { identity, cookieSecure: deps.cookies.secure, sessionTtlMs: deps.cookies.sessionTtlMs, chatKeys: deps.services.chatKeys });
  registerAdminRoutes(app, { admin: identity.admin, audit: identity.audit, policies: identity.policies, usage: identity.usageReport });
  registerPrivacyRoutes(app, { privacy, identity, chatKeys: deps.services.chatKeys });
  registerAgreementRoutes(app, { agreement, access });
  registerEnergyRoutes(app, { energy: deps.services.energy });
  registerChatRoutes(app, {
    chats, registry, isModelVisible, modelDescriptions: deps.ui.modelDescriptions, sso: deps.ui.sso,
    chatKeys: deps.services.chatKeys, answers: deps.services.answers, inference,
    listVirtualModels: (principal) => inference.listVirtualModels(principal),
  });
  registerChatAnswerRoutes(app, { answers: deps.services.answers, chatKeys: deps.services.chatKeys });
  registerTemplateRoutes(app, { templates });
  await registerLtiRoutes(app, {
    lti: deps.services.lti, sessions: identity.sessions, sessionTtlMs: deps.cookies.sessionTtlMs, registry, modelDescriptions: deps.ui.modelDescriptions,
    users: identity.users, forUser: (user) => access.forUser(user), isModelVisible,
    listVirtualModels: (principal) => inference.listVirtualModels(principal),
  });
  await registerCollectionRoutes(app, { collections: deps.services.courses.collections });

  if (hasWebUi) {
    // The web UI's files are public (the login page is one of them); the plugin registers one route per file.
    await registerPublicPlugin(app, fastifyStatic, {
      root: deps.webRoot!, prefix: '/', wildcard: false, index: ['index.html'], preCompressed: true,
      // Vite puts a content hash in every asset name: those never change, the page itself may.
      setHeaders: (res, path) => res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    });
  } else {
    app.get('/', publicRoute(), async (_request, reply) => reply.type('text/html; charset=utf-8').send(
      '<!doctype html><title>Flexi</title><h1>Flexi</h1><p>The API is at <code>/v1</code> (OpenAI) and <code>/api</code> (Ollama). The web UI is not built: run <code>npm run build -w web</code>.</p>',
    ));
  }
  return app;
}

