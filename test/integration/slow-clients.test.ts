import { connect, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * Finding 5 of issue 12: slow headers and bodies are cut, one address cannot hold more than a
 * few unauthenticated requests, and /healthz answers meanwhile (docs/security.md).
 */

/** Far above the configured timeouts: only a server that never cuts the request runs into it. */
const GENEROUS_MS = 10_000;

interface RawClient {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once what was received matches. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves true when the server closed the connection, false after `withinMs`. */
  closedWithin(withinMs: number): Promise<boolean>;
}

async function rawClient(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let closed = false;
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((wake) => wake());
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    notify();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    notify();
  });
  const until = (done: () => boolean, withinMs: number) => new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(done()), withinMs);
    const check = () => {
      if (done()) {
        clearTimeout(timer);
        resolve(true);
      } else if (!closed) waiters.push(check);
      else {
        clearTimeout(timer);
        resolve(done());
      }
    };
    check();
  });
  return {
    socket,
    received: () => text,
    waitFor: async (pattern) => {
      if (!(await until(() => pattern.test(text), GENEROUS_MS))) throw new Error(`did not receive ${pattern}; got ${JSON.stringify(text)}`);
      return text;
    },
    closedWithin: (withinMs) => until(() => closed, withinMs),
  };
}

/** Sends one byte every `everyMs` until the socket closes: a slowloris client. */
function trickle(socket: Socket, everyMs: number): { sent: () => number } {
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) clearInterval(timer);
    else {
      socket.write('a');
      sent++;
    }
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return { sent: () => sent };
}

function loginHead(contentLength: number, extra = ''): string {
  return `POST /auth/login HTTP/1.1\r\nHost: flexi\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n${extra}\r\n`;
}

/** GET from a given local address (Node's fetch cannot choose one). */
function getFrom(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { localAddress, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

describe('slow clients are cut, streamed responses are not', () => {
  let store: Store;
  let gateway: IdentityGateway;
  let port: number;
  let key: string;

  beforeAll(async () => {
    store = await openTestStore('sqlite');
    // Each word of the answer waits 150 ms: the stream lasts about 1 s, several request timeouts.
    const backend = new ScriptedBackend({ models: ['tiny:latest'], gate: () => new Promise((resolve) => setTimeout(resolve, 150)) });
    gateway = await startIdentityGateway([backend], {
      store, configText: 'server:\n  headers_timeout_ms: 300\n  request_timeout_ms: 300\nauth:\n  cookie_secure: false\n',
    });
    port = Number(new URL(gateway.url).port);
    key = (await userWithKey(gateway.identity, 'researcher@uni.example', ['admin'])).key;
  });
  afterAll(async () => {
    await gateway.close();
    await store.close();
  });

  it('cuts a login whose body trickles in with 408 and closes the connection', async () => {
    const client = await rawClient(port);
    client.socket.write(loginHead(10_000));
    const bytes = trickle(client.socket, 20);
    expect(await client.closedWithin(GENEROUS_MS)).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    // Cut long before the body could have arrived.
    expect(bytes.sent()).toBeLessThan(10_000);
  });

  it('cuts a connection whose headers trickle in', async () => {
    const client = await rawClient(port);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: flexi\r\n');
    trickle(client.socket, 20);
    expect(await client.closedWithin(GENEROUS_MS)).toBe(true);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that sends nothing', async () => {
    const client = await rawClient(port);
    expect(await client.closedWithin(GENEROUS_MS)).toBe(true);
    expect(client.received()).toBe('');
  });

  it('completes a streamed response that lasts longer than the request timeout', async () => {
    const startedMs = performance.now();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(key), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny:latest', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    // The stream really outlived the timeout (plus Node's check interval) and still ended normally.
    expect(performance.now() - startedMs).toBeGreaterThan(600);
    expect(text).toContain('"finish_reason":"stop"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });
});

describe('unauthenticated requests per address', () => {
  let store: Store;
  let gateway: IdentityGateway;
  let port: number;
  const attacker = '127.0.0.3';

  beforeAll(async () => {
    store = await openTestStore('sqlite');
    gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'] })], {
      store, configText: 'server:\n  unauthenticated_requests_per_address: 3\nauth:\n  cookie_secure: false\n',
    });
    port = Number(new URL(gateway.url).port);
  });
  afterAll(async () => {
    await gateway.close();
    await store.close();
  });

  /** A login whose body is still on its way; `100 Continue` says the server has begun the request. */
  async function slowLogin(from: string): Promise<RawClient> {
    const client = await rawClient(port, from);
    client.socket.write(loginHead(1000, 'Expect: 100-continue\r\n'));
    await client.waitFor(/^HTTP\/1\.1 100 /);
    return client;
  }

  /** Sends the rest of a slow login (a wrong password) and returns the final status line's code. */
  async function finishLogin(client: RawClient): Promise<number> {
    client.socket.write(JSON.stringify({ email: 'nobody@uni.example', password: 'x' }).padEnd(1000, ' '));
    const text = await client.waitFor(/\r\n\r\nHTTP\/1\.1 \d{3} /);
    return Number(/\r\n\r\nHTTP\/1\.1 (\d{3}) /.exec(text)![1]);
  }

  it('refuses the 4th slow login from one address with 429 and closes it, while /healthz and other addresses answer', async () => {
    const held = [await slowLogin(attacker), await slowLogin(attacker), await slowLogin(attacker)];

    // Node answers `100 Continue` before Flexi sees the request; the refusal follows it.
    const refused = await slowLogin(attacker);
    await refused.waitFor(/\r\n\r\nHTTP\/1\.1 429 /);
    for (const client of held) expect(client.received()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(refused.received()).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(refused.received()).toContain('too_many_unauthenticated_requests');
    expect(await refused.closedWithin(GENEROUS_MS)).toBe(true);

    expect(await getFrom(`${gateway.url}/healthz`, attacker)).toBe(200);
    expect(await getFrom(`${gateway.url}/healthz`, '127.0.0.1')).toBe(200);
    expect(await finishLogin(await slowLogin('127.0.0.2'))).toBe(401);

    // One held login completes (wrong password: 401); its slot is free for the next request.
    expect(await finishLogin(held[0]!)).toBe(401);
    expect(await finishLogin(await slowLogin(attacker))).toBe(401);
    for (const client of held) client.socket.destroy();
  });

  it('frees the slot of every answered request: 100 public requests in a row from one address all succeed', async () => {
    for (let i = 0; i < 100; i++) expect((await fetch(`${gateway.url}/api/version`)).status).toBe(200);
    for (let i = 0; i < 100; i++) expect((await gateway.app.server.inject({ method: 'GET', url: '/api/version' })).statusCode).toBe(200);
  });

  it('does not count requests with a valid key', async () => {
    const { key } = await userWithKey(gateway.identity, 'many@uni.example', ['admin']);
    const held = [await slowLogin('127.0.0.4'), await slowLogin('127.0.0.4'), await slowLogin('127.0.0.4')];
    const response = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${gateway.url}/v1/models`, { localAddress: '127.0.0.4', agent: false, headers: bearer(key) }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end();
    });
    expect(response).toBe(200);
    for (const client of held) client.socket.destroy();
  });
});
