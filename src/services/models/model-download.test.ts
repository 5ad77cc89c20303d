import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../../../test/helpers/gguf-writer.js';
import { loadConfig } from '../../config/load.js';
import { FlexiError } from '../../core/errors.js';
import { checkPullUrl, pullPolicyOf, systemResolve, type PullPolicy } from './model-download.js';
import { ModelManagerService, resolvePullSource } from './model-manager.service.js';

/** Issue 12: model pulls must not reach loopback, link-local, private or other internal addresses. */

const root = mkdtempSync(join(tmpdir(), 'flexi-pull-guard-'));
const model = (() => {
  const path = join(root, 'source.gguf');
  writeTinyLlamaGguf(path, { embd: 32, ff: 64, layers: 1, heads: 2 });
  return readFileSync(path);
})();

interface Target { server: Server; port: number; requests: string[] }

/** An HTTP server on `host` that records every request; `/redirect?to=…` answers 302. */
async function startTarget(host: string): Promise<Target> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.headers.host} ${req.url}`);
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to) res.writeHead(302, { location: to }).end();
    else res.writeHead(200, { 'content-length': model.length }).end(model);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

let mirror: Target; // 127.0.0.1: the operator's allowed mirror in some tests, forbidden in others
let inside: Target; // 127.0.0.2: a service that must never be reached
beforeAll(async () => {
  mirror = await startTarget('127.0.0.1');
  inside = await startTarget('127.0.0.2');
});
afterAll(async () => {
  await Promise.all([mirror, inside].map((t) => new Promise((resolve) => t.server.close(resolve))));
  rmSync(root, { recursive: true, force: true });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'models-'));
});

/** A resolver from a table; counts calls per name. */
function fakeResolver(answers: Record<string, (call: number) => LookupAddress[]>): PullPolicy['resolve'] & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  return Object.assign(async (host: string) => {
    calls[host] = (calls[host] ?? 0) + 1;
    const answer = answers[host];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer(calls[host]!);
  }, { calls });
}

function manager(policy: Partial<PullPolicy>): ModelManagerService {
  return new ModelManagerService({
    backends: [], modelsDirs: [dir],
    pullPolicy: { allowHosts: ['*'], allowNetworks: [], resolve: systemResolve, connectTimeoutMs: 1000, ...policy },
  });
}

async function pullError(service: ModelManagerService, source: string): Promise<FlexiError> {
  const error = await service.pull(source).then(() => undefined, (caught: unknown) => caught);
  expect(error, source).toBeInstanceOf(FlexiError);
  return error as FlexiError;
}

describe('model pull: where downloads may go', () => {
  it('refuses every non-public address class before connecting, in any spelling', async () => {
    const port = mirror.port;
    const service = manager({ resolve: fakeResolver({ 'internal.example': () => [{ address: '127.0.0.1', family: 4 }] }) });
    const sources = [
      `http://127.0.0.1:${port}/m.gguf`, `http://127.1:${port}/m.gguf`, `http://2130706433:${port}/m.gguf`, `http://0x7f.0.0.1:${port}/m.gguf`,
      `http://[::1]:${port}/m.gguf`, `http://[::ffff:127.0.0.1]:${port}/m.gguf`, `http://[::ffff:7f00:1]:${port}/m.gguf`,
      `http://0.0.0.0:${port}/m.gguf`, `http://[::]:${port}/m.gguf`, `http://internal.example:${port}/m.gguf`,
      'http://169.254.169.254/latest/m.gguf', 'http://[fe80::1]/m.gguf', 'http://[::ffff:169.254.169.254]/m.gguf',
      'http://10.0.0.1/m.gguf', 'http://172.16.0.1/m.gguf', 'http://192.168.0.1/m.gguf', 'http://100.64.0.1/m.gguf',
      'http://[fd00::1]/m.gguf', 'http://224.0.0.1/m.gguf', 'http://[ff02::1]/m.gguf', 'http://255.255.255.255/m.gguf',
    ];
    for (const source of sources) {
      const error = await pullError(service, source);
      // pull_source_not_allowed, not a connection error: nothing was connected to (169.254.169.254 would time out).
      expect({ source, code: error.code, param: error.param }).toEqual({ source, code: 'pull_source_not_allowed', param: 'source' });
    }
    expect(mirror.requests).toEqual([]);
  });

  it('admits only the Hugging Face hosts by default, hf: sources and their CDN redirect targets included', () => {
    const policy = pullPolicyOf(loadConfig({}));
    for (const ok of ['https://cdn-lfs-us-1.hf.co/x', 'https://cas-bridge.xethub.hf.co/x', 'https://cdn-lfs.huggingface.co/x', 'https://hf.co/x', 'https://huggingface.co./x']) {
      expect(() => checkPullUrl(policy, new URL(ok)), ok).not.toThrow();
    }
    expect(() => checkPullUrl(policy, resolvePullSource('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf'))).not.toThrow();
    for (const bad of ['https://huggingface.co.evil.example/x', 'https://evilhf.co/x', 'https://example.org/x', 'ftp://huggingface.co/x', 'file:///etc/passwd']) {
      expect(() => checkPullUrl(policy, new URL(bad)), bad).toThrow(expect.objectContaining({ code: 'pull_source_not_allowed' }));
    }
  });

  it('matches allow_hosts entries by name, by *.domain and as bracketed IPv6 literals', () => {
    const policy: PullPolicy = { allowHosts: ['mirror.test', '*.cdn.test', '[::1]'], allowNetworks: ['::1'], resolve: systemResolve, connectTimeoutMs: 1000 };
    for (const ok of ['http://mirror.test/x', 'http://MIRROR.test./x', 'https://a.b.cdn.test/x', 'http://[::1]:8080/x']) expect(() => checkPullUrl(policy, new URL(ok)), ok).not.toThrow();
    for (const bad of ['http://cdn.test/x', 'http://xmirror.test/x', 'http://[::2]/x', 'http://127.0.0.1/x']) {
      expect(() => checkPullUrl(policy, new URL(bad)), bad).toThrow(expect.objectContaining({ code: 'pull_source_not_allowed' }));
    }
  });

  it('downloads from an allowed host, connecting to the address its one lookup returned', async () => {
    const resolve = fakeResolver({ 'mirror.test': () => [{ address: '127.0.0.1', family: 4 }] });
    const service = manager({ allowHosts: ['mirror.test'], allowNetworks: ['127.0.0.1/32'], resolve });
    const result = await service.pull(`http://mirror.test:${mirror.port}/models/tiny.gguf`);
    expect(result).toMatchObject({ name: 'tiny:latest', sizeBytes: model.length });
    expect(mirror.requests).toEqual([`mirror.test:${mirror.port} /models/tiny.gguf`]);
    expect(resolve.calls['mirror.test']).toBe(1);
    mirror.requests.length = 0;
  });

  it('refuses a redirect to a private address, literal or by name, without touching it', async () => {
    const resolve = fakeResolver({ 'sneaky.test': () => [{ address: '127.0.0.2', family: 4 }] });
    const service = manager({ allowNetworks: ['127.0.0.1/32'], resolve });
    const targets = [`http://127.0.0.2:${inside.port}/m.gguf`, `http://sneaky.test:${inside.port}/m.gguf`, 'http://169.254.169.254/m.gguf', `http://[::1]:${inside.port}/m.gguf`];
    for (const target of targets) {
      const error = await pullError(service, `http://127.0.0.1:${mirror.port}/redirect.gguf?to=${encodeURIComponent(target)}`);
      expect({ target, code: error.code }).toEqual({ target, code: 'pull_source_not_allowed' });
      expect(error.message).toMatch(/redirect 1|resolves to/);
    }
    expect(mirror.requests).toHaveLength(targets.length); // the allowed first hop was asked each time…
    expect(inside.requests).toEqual([]); // …and the private target never
    mirror.requests.length = 0;
  });

  it('cannot be rebound: a name that answers public, then private, is connected to the address it was checked as', async () => {
    // The attack: a check resolves to a public address, the connection resolves again and gets an inside one.
    const resolve = fakeResolver({ 'rebind.test': (call) => [{ address: call === 1 ? '93.184.215.14' : '127.0.0.2', family: 4 }] });
    const service = manager({ resolve, connectTimeoutMs: 300 });
    const error = await pullError(service, `http://rebind.test:${inside.port}/m.gguf`);
    // It went (or tried to go) to the public address; whatever became of that, it never reached inside.
    expect(error.code).toBe('backend_unavailable');
    expect(resolve.calls['rebind.test']).toBe(1);
    expect(inside.requests).toEqual([]);
  });

  it('refuses a name with any non-public answer, even next to a public one', async () => {
    const resolve = fakeResolver({ 'mixed.test': () => [{ address: '93.184.215.14', family: 4 }, { address: '127.0.0.2', family: 4 }] });
    const error = await pullError(manager({ resolve }), `http://mixed.test:${inside.port}/m.gguf`);
    expect(error.code).toBe('pull_source_not_allowed');
    expect(error.message).toContain('mixed.test resolves to it');
    expect(inside.requests).toEqual([]);
  });

  it('says the same about a closed port and a connection cut at once, so errors map no ports', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const reset = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => reset.listen(0, '127.0.0.1', resolve));
    const resetPort = (reset.address() as AddressInfo).port;
    try {
      const service = manager({ allowNetworks: ['127.0.0.1'] });
      const messages = await Promise.all([closedPort, resetPort].map(async (port) => {
        const error = await pullError(service, `http://127.0.0.1:${port}/m.gguf`);
        return `${error.code}: ${error.message.replace(String(port), 'PORT')}`;
      }));
      expect(messages).toEqual(Array(2).fill('backend_unavailable: Cannot download from 127.0.0.1:PORT: the connection failed.'));
    } finally {
      await new Promise((resolve) => reset.close(resolve));
    }
  });
});
