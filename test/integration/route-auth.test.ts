import { existsSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type * as Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/*
 * Walks every route the fully wired gateway registers (identity, web UI, chats, privacy,
 * admin users/models/nodes) and asks each one without credentials, under several spellings of
 * its path. A route is served without credentials only if it is on the hand-written list below;
 * every other spelling of a path is refused with 400 before any route runs.
 */

const routes = vi.hoisted(() => [] as { method: string; url: string }[]);

// Records every route exactly as Fastify registers it (including the web UI's file routes).
vi.mock('fastify', async (importOriginal) => {
  const original = await importOriginal<typeof Fastify>();
  const wrapped = ((options: Parameters<typeof original.default>[0]) => {
    const app = original.default(options);
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url });
    });
    return app;
  }) as typeof original.default;
  return { ...original, default: wrapped };
});

const WEB_ROOT = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Served without credentials, written out by hand: a route that becomes public by mistake fails here. */
const PUBLIC_ROUTES = new Set([
  'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/version', 'GET /ui/config',
  'POST /auth/login', 'GET /auth/oidc/start', 'GET /auth/oidc/callback',
  // LTI 1.3: platforms and browsers arriving from an LMS carry no Flexi credentials (docs/lti.md).
  'GET /lti/jwks', 'GET /lti/assets/lti.js', 'GET /lti/login', 'POST /lti/login', 'GET /lti/launch', 'POST /lti/launch', 'POST /lti/deep-link', 'GET /lti/register',
]);
const isWebUiFile = (url: string): boolean => url === '/' || existsSync(`${WEB_ROOT}${url}`);
const isPublic = (method: string, url: string): boolean => {
  const get = method === 'HEAD' ? 'GET' : method;
  return PUBLIC_ROUTES.has(`${get} ${url}`) || ((get === 'GET') && isWebUiFile(url));
};

/** A concrete path for a route pattern: parameters and wildcards become `x1`. */
function concretePath(url: string): string {
  return url.replace(/:[A-Za-z_]+/g, 'x1').replace(/\*/g, 'x1');
}

/** Percent-encodes the first letter of the path (`/v1/…` → `/%761/…`), in upper- or lower-case hex. */
function encodeFirstLetter(path: string, lower: boolean): string | undefined {
  const at = path.search(/[A-Za-z]/);
  if (at < 0) return undefined;
  const hex = path.charCodeAt(at).toString(16);
  return `${path.slice(0, at)}%${lower ? hex.toLowerCase() : hex.toUpperCase()}${path.slice(at + 1)}`;
}

/** Spellings of `path` that are not its normal form: each must get 400, whatever the route. */
function abnormalSpellings(path: string): string[] {
  const spellings = [
    encodeFirstLetter(path, false),
    encodeFirstLetter(path, true),
    // Mixed: one letter encoded upper-case, a later one lower-case.
    (() => {
      const once = encodeFirstLetter(path, false);
      if (!once) return undefined;
      const rest = once.slice(once.indexOf('%') + 3);
      const second = encodeFirstLetter(rest, true);
      return second && once.slice(0, once.length - rest.length) + second;
    })(),
    `http://flexi.example${path}`,
    `HTTP://127.0.0.1:1${path}`,
    `/${path}`,
    path.indexOf('/', 1) > 0 ? path.replace(/^\/([^/]*)/, '/$1/') : undefined,
    `/.${path}`,
    `/x1/..${path}`,
  ];
  return [...new Set(spellings.filter((s): s is string => s !== undefined && s !== path))];
}

interface RawResponse {
  status: number;
  body: string;
}

/** One request on its own connection, the target sent byte for byte (no client normalises it). */
function rawRequest(port: number, method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequestWithBody(port, method, target, ['POST', 'PUT', 'PATCH'].includes(method) ? '{}' : '', headers);
}

function rawRequestWithBody(port: number, method: string, target: string, body: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const lines = [`${method} ${target} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close', `content-length: ${Buffer.byteLength(body)}`];
  if (body) lines.push('content-type: application/json');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return new Promise((resolve, reject) => {
    // write, not end: a half-closed socket may be closed before a file response is streamed.
    const socket = connect(port, '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

let store: Store;
let app: App;
let port: number;

beforeAll(async () => {
  store = await openTestStore('sqlite');
  const config = loadConfig({ fileText: '' });
  app = await createApp({ config, backends: [new ScriptedBackend({ models: ['tiny:latest'] })], store, webRoot: WEB_ROOT });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await app?.close();
  await store?.close();
});

describe('every route decides authentication on the matched route', () => {
  it('registers the routes this test expects to walk (identity, web UI, chats, privacy, admin)', () => {
    const names = new Set(routes.map((r) => `${r.method} ${r.url}`));
    for (const expected of ['POST /v1/chat/completions', 'POST /api/generate', 'POST /auth/keys', 'GET /admin/v1/users', 'POST /admin/v1/models/pull',
      'POST /admin/v1/nodes/:name/drain', 'GET /ui/v1/chats', 'DELETE /ui/v1/me', 'GET /index.html', 'GET /metrics']) {
      expect(names, expected).toContain(expected);
    }
  });

  it('answers 401 without credentials on every route that is not explicitly public', async () => {
    const wrong: string[] = [];
    for (const { method, url } of routes) {
      if (isPublic(method, url)) continue;
      for (const target of [concretePath(url), `${concretePath(url)}/`]) {
        const response = await rawRequest(port, method, target);
        if (response.status !== 401) wrong.push(`${method} ${target} → ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('serves the explicitly public routes without credentials', async () => {
    const wrong: string[] = [];
    for (const { method, url } of routes) {
      if (!isPublic(method, url)) continue;
      const response = await rawRequest(port, method, concretePath(url));
      // /readyz may say 503; /auth/login answers 400 to an empty body; OIDC is not configured: 404.
      if (response.status === 401 || response.status >= 500 && response.status !== 503) wrong.push(`${method} ${url} → ${response.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('refuses every other spelling of every path (percent-encoded letters, absolute form, //, dot segments) with 400', async () => {
    const wrong: string[] = [];
    for (const { method, url } of routes) {
      for (const target of abnormalSpellings(concretePath(url))) {
        const response = await rawRequest(port, method, target);
        // Refused before routing, not by the handler's own validation (which also says 400).
        if (response.status !== 400 || (method !== 'HEAD' && !/The (path|request target)/.test(response.body))) wrong.push(`${method} ${target} → ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('refuses the three reported requests before they reach a node', async () => {
    const chat = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    for (const target of ['/%761/chat/completions', '/%61pi/generate', 'http://x/v1/chat/completions']) {
      const response = await rawRequestWithBody(port, 'POST', target, chat);
      expect(response.status, target).toBe(400);
    }
  });

  it('names the problem in the client\'s protocol: Ollama error shape on /api, OpenAI shape on /v1', async () => {
    const ollama = await rawRequest(port, 'POST', '/%61pi/generate');
    expect(ollama.status).toBe(400);
    expect(JSON.parse(ollama.body)).toEqual({ error: expect.stringContaining('percent-encodes "a"') });
    const openai = await rawRequest(port, 'POST', 'http://x/v1/chat/completions');
    expect(openai.status).toBe(400);
    expect(JSON.parse(openai.body)).toMatchObject({ error: { code: 'invalid_request', message: expect.stringContaining('absolute form') } });
  });

  it('answers 401, not 404, for unknown API paths without credentials; the web UI still gets its page', async () => {
    expect((await rawRequest(port, 'GET', '/admin/v1/no-such-thing')).status).toBe(401);
    expect((await rawRequest(port, 'POST', '/v2/chat/completions')).status).toBe(401);
    const page = await rawRequest(port, 'GET', '/chat/abc', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<!doctype html>');
  });

  it('a non-admin key gets 403 on every admin route', async () => {
    const { key } = await userWithKey(app.identity as IdentityGateway['identity'], 'student@uni.example', ['student']);
    const wrong: string[] = [];
    for (const { method, url } of routes) {
      if (!url.startsWith('/admin/')) continue;
      const response = await rawRequest(port, method, concretePath(url), bearer(key));
      if (response.status !== 403) wrong.push(`${method} ${url} → ${response.status}`);
    }
    expect(wrong).toEqual([]);
  });
});
