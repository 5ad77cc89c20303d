import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

let gateway: TestGateway;
let backend: ScriptedBackend;

beforeAll(async () => {
  backend = new ScriptedBackend({ models: ['tiny:latest', 'embed:latest'] });
  gateway = await startGateway([backend], { config: { fileText: 'models:\n  aliases:\n    gpt-4o: tiny\n' } });
});
afterAll(() => gateway.close());

describe('http layer over a scripted backend', () => {
  it('serves chat to the openai client, streaming and not', async () => {
    const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1` });
    const completion = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]?.message.content).toBe('Hello from Flexi. The end.');
    expect(completion.usage?.completion_tokens).toBe(7);
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from Flexi. The end.');
    expect(usage?.total_tokens).toBe(12);
  });

  it('serves chat to the ollama client', async () => {
    const client = new Ollama({ host: gateway.url, headers: { Authorization: `Bearer ${TEST_KEY}` } });
    const response = await client.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    expect(response.message.content).toBe('Hello from Flexi. The end.');
    expect(response.eval_count).toBe(7);
    const parts: string[] = [];
    for await (const part of await client.generate({ model: 'tiny', prompt: 'x', stream: true })) parts.push(part.response ?? '');
    expect(parts.join('')).toBe('Hello from Flexi. The end.');
  });

  it('refuses a request without a key with 401 in both protocols', async () => {
    const client = new OpenAI({ apiKey: 'wrong', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const response = await fetch(`${gateway.url}/api/tags`);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: expect.stringContaining('Missing API key') });
  });

  it('sends a strict content security policy, nosniff and a referrer policy with every response, errors included', async () => {
    for (const response of [await fetch(`${gateway.url}/healthz`), await fetch(`${gateway.url}/api/tags`), await fetch(`${gateway.url}/no/such/route`)]) {
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      // Scripts and <style> elements stay 'self'; only style attributes are allowed (KaTeX, docs/web.md).
      expect(csp).not.toMatch(/(script-src|style-src)\s[^;]*unsafe-inline/);
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'self'");
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('same-origin');
    }
  });
});
