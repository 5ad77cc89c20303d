import { existsSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import { FlexiError, toFlexiError } from '../core/errors.js';
import { randomId } from '../lib/ids.js';
import type { InferenceService } from '../services/inference.service.js';
import type { Dispatcher } from '../services/dispatcher.js';
import type { NodeAdminService } from '../services/node-admin.service.js';
import { registerAdminNodeRoutes } from './admin-nodes.route.js';
import { registerAdminModelRoutes } from './admin-models.route.js';
import { ModelManagerService } from '../services/model-manager.service.js';
import type { ModelRegistry } from '../services/model-registry.service.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { AccessControl } from '../services/access-control.service.js';
import type { Identity } from '../services/identity.js';
import { registerAdminRoutes } from './admin.route.js';
import { agreementHook, registerAgreementRoutes } from './agreement.route.js';
import { registerChatRoutes } from './chats.route.js';
import type { AgreementService } from '../services/agreement.service.js';
import type { ChatService } from '../services/chat.service.js';
import { registerAuthRoutes } from './auth.route.js';
import type { Principal } from './auth.js';
import { errorHeaders, errorBody, fromFrameworkError, protocolOf, sendError } from './errors.js';
import { registerOllamaRoutes, registerOllamaVersionRoute } from './ollama.route.js';
import { registerOpenAiRoutes } from './openai.route.js';
import { registerPrivacyRoutes } from './privacy.route.js';
import type { PrivacyService } from '../services/privacy/privacy.service.js';
import { registerSystemRoutes, type ReadinessCheck } from './system.route.js';


/**
 * Sent with every response. The web UI loads only its own bundle (no inline scripts; Preact sets
 * styles through the DOM, which CSP allows), so a strict policy costs nothing and turns an
 * injected script into a blocked one. `frame-ancestors 'self'`: no other site may frame Flexi.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    + "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

export interface HttpServerDeps {
  bodyLimitBytes: number;
  trustProxy: boolean;
  access: AccessControl;
  /** With a database: the /auth (browser login, own keys) and /admin/v1 routes. */
  identity?: Identity;
  /** With a database: a user's own export and erasure (/ui/v1/me). */
  privacy?: PrivacyService;
  cookies: { secret: string; secure: boolean; sessionTtlMs: number };
  inference: InferenceService;
  dispatcher: Dispatcher;
  nodeAdmin?: NodeAdminService;
  registry: ModelRegistry;
  metrics: GatewayMetrics;
  readiness: ReadinessCheck;
  /** With a database: the web UI's chats API and the user agreement. */
  ui?: { chats: ChatService; agreement: AgreementService; modelDescriptions: Readonly<Record<string, string>>; sso: boolean };
  /** Folder of the built web UI (web/dist); a placeholder page when missing. */
  webRoot?: string;
  /** Logs errors that are Flexi's fault (500s), with the request id. */
  logError: (message: string, fields: Record<string, unknown>) => void;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Routes that need no API key or session (/auth routes authenticate themselves). */
function isPublic(url: string): boolean {
  return !(url.startsWith('/v1/') || url.startsWith('/api/') || url.startsWith('/admin/') || url.startsWith('/ui/v1/')) || url.startsWith('/api/version');
}

/** Paths the web UI owns (not an API prefix). */
function isWebPage(url: string): boolean {
  return !/^\/(v1|api|admin\/v1|auth|ui|metrics|healthz|readyz|assets)(\/|$|\?)/.test(url);
}

export async function createHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes,
    trustProxy: deps.trustProxy,
    // Streams can run for minutes; the node timeouts bound them, not the HTTP server.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomId(20)}`;
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
  });

  await app.register(fastifyCookie, { secret: deps.cookies.secret });
  app.decorate('accessControl', deps.access);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('startedAtMs', 0);

  // Any content type is read as JSON (Ollama accepts bodies without one; curl sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    const buffer = body as Buffer;
    if (buffer.length === 0) {
      done(null, undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(buffer);
    } catch {
      done(new FlexiError('invalid_json', 'The request body is not valid UTF-8.'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new FlexiError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  // Callback-style hooks, not async ones: they run on every request, and an async hook costs a
  // promise and its microtasks even when it has nothing to wait for.
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAtMs = performance.now();
    reply.header('x-request-id', request.id);
    reply.headers(SECURITY_HEADERS);
    // Behind Flexi a load test against sim nodes reports simulated time, like against the sim itself.
    const simSpeed = deps.registry.simSpeed();
    if (simSpeed !== undefined) reply.header('x-sim-speed', String(simSpeed));
    if (isPublic(request.url)) {
      done();
      return;
    }
    deps.access.authenticate(request.headers, request.cookies, request.method).then((principal) => {
      request.principal = principal;
      done();
    }, done);
  });

  if (deps.ui) app.addHook('onRequest', agreementHook(deps.ui.agreement, deps.access));

  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.onHttpResponse(request.routeOptions.url ?? 'unmatched', reply.statusCode);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = fromFrameworkError(error);
    if (failure.status >= 500 && failure.code === 'internal_error') {
      deps.logError('request failed', { requestId: request.id, url: request.url, error: (error as Error).stack ?? String(error) });
    }
    if (reply.sent || reply.raw.headersSent) return;
    sendError(reply, failure, protocolOf(request.url));
  });

  const hasWebUi = deps.webRoot !== undefined && existsSync(deps.webRoot);
  app.setNotFoundHandler((request, reply) => {
    // The web UI routes in the browser (/chat/<id>, /settings…): unknown pages get its index.
    if (hasWebUi && request.method === 'GET' && isWebPage(request.url) && String(request.headers.accept ?? '').includes('text/html')) {
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    }
    const failure = new FlexiError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}.`);
    reply.code(404).headers(errorHeaders(failure)).send(errorBody(failure, protocolOf(request.url)));
  });

  registerSystemRoutes(app, { metrics: deps.metrics, readiness: deps.readiness });
  registerOllamaVersionRoute(app);
  const isModelVisible = (principal: Principal | undefined, model: string) => deps.access.isModelVisible(principal, model);
  registerOpenAiRoutes(app, { inference: deps.inference, registry: deps.registry, isModelVisible });
  registerOllamaRoutes(app, { inference: deps.inference, registry: deps.registry, isModelVisible });
  registerAdminNodeRoutes(app, { nodeAdmin: deps.nodeAdmin, dispatcher: deps.dispatcher, registry: deps.registry });
  registerAdminModelRoutes(app, {
    manager: ModelManagerService.fromBackends(deps.registry.backends),
    isAdmin: (request) => request.principal?.policy.admin === true,
    onModelsChanged: () => deps.registry.refresh(),
  });
  const identity = deps.identity;
  if (identity?.users && identity.admin && identity.audit && identity.usageReport) {
    registerAuthRoutes(app, { identity, cookieSecure: deps.cookies.secure, sessionTtlMs: deps.cookies.sessionTtlMs });
    registerAdminRoutes(app, { admin: identity.admin, audit: identity.audit, policies: identity.policies, usage: identity.usageReport });
    if (deps.privacy) registerPrivacyRoutes(app, { privacy: deps.privacy, identity });
  }
  if (deps.ui) {
    registerAgreementRoutes(app, { agreement: deps.ui.agreement, access: deps.access });
    registerChatRoutes(app, { chats: deps.ui.chats, registry: deps.registry, isModelVisible, modelDescriptions: deps.ui.modelDescriptions, sso: deps.ui.sso });
  }

  if (hasWebUi) {
    await app.register(fastifyStatic, {
      root: deps.webRoot!, prefix: '/', wildcard: false, index: ['index.html'], preCompressed: true,
      // Vite puts a content hash in every asset name: those never change, the page itself may.
      setHeaders: (res, path) => res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    });
  } else {
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(
      '<!doctype html><title>Flexi</title><h1>Flexi</h1><p>The API is at <code>/v1</code> (OpenAI) and <code>/api</code> (Ollama). The web UI is not built: run <code>npm run build -w web</code>.</p>',
    ));
  }
  return app;
}

export { toFlexiError };
