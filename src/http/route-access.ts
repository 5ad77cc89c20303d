import type { FastifyInstance, FastifyPluginAsync, FastifyPluginCallback, FastifyPluginOptions, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Served without credentials. Every other route needs an API key or a session: the auth
     * hook decides on the route the router matched, never on the URL text (deny by default).
     */
    public?: boolean;
  }
}

/** Route options that make a route public: `app.get('/healthz', publicRoute(), handler)`. */
export function publicRoute(): { config: { public: true } } {
  return { config: { public: true } };
}

/** RFC 3986 unreserved characters: percent-encoding one of them changes nothing but the text. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const PERCENT = /%(?:([0-9A-Fa-f]{2})|)/g;

/**
 * Why a request target is refused before any route runs, or undefined when it is a path in
 * normal form. The router matches percent-decoded paths and absolute-form targets
 * (`POST http://x/v1/…`), so any text that is not the one spelling of its path is refused:
 * whatever looks at the URL (logs, limits, metrics, proxies in front) then sees what the
 * router sees.
 */
export function findTargetProblem(url: string): string | undefined {
  if (!url.startsWith('/') || url.startsWith('//')) return 'The request target must be a path starting with one "/" (no absolute form).';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  // Runs on every request: the common path has none of the characters the checks below look for.
  if (!path.includes('%') && !path.includes('//') && !path.includes('/.') && !path.includes('#')) return undefined;
  if (path.includes('#')) return 'The request target must not carry a fragment (#).';
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i += 1) {
    const segment = segments[i]!;
    // A trailing slash is an empty last segment; routes ignore it, so it stays allowed.
    if (segment === '' && i < segments.length - 1) return 'The path must not contain empty segments (//).';
    if (segment === '.' || segment === '..') return 'The path must not contain "." or ".." segments.';
  }
  for (const match of path.matchAll(PERCENT)) {
    if (match[1] === undefined) return 'The path contains a "%" that is not a percent-encoded byte.';
    const char = String.fromCharCode(parseInt(match[1], 16));
    if (UNRESERVED.test(char)) return `The path percent-encodes "${char}", which must be written as itself.`;
  }
  return undefined;
}

/** Whether the matched route said it is public (404s are not routes and say nothing). */
export function isPublicRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config?.public === true;
}

/**
 * Registers a plugin whose routes are all public, such as @fastify/static (one route per file of
 * the web UI, which has no option for route config). The plugin keeps decorating `app` itself
 * (`reply.sendFile`), so it cannot go into an encapsulated scope of its own.
 */
export async function registerPublicPlugin<Options extends FastifyPluginOptions>(
  app: FastifyInstance, plugin: FastifyPluginCallback<Options> | FastifyPluginAsync<Options>, options: Options,
): Promise<void> {
  let registering = true;
  app.addHook('onRoute', (route) => {
    if (registering) route.config = { ...route.config, public: true };
  });
  try {
    await app.register(plugin, options);
  } finally {
    registering = false;
  }
}
