import { afterEach, describe, expect, it } from 'vitest';
import { FlexiError } from '../../src/core/errors.js';
import type { ChatEvent } from '../../src/core/types.js';
import { openTestStore } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

// The admission's rate-limit headers come back on the started generation (or on the error after
// admission) and http/ writes them: every answer an admitted request gets carries them.
const CONFIG = `
nodes:
  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 1 }
roles:
  limited: { models: ['*'], requests_per_minute: 50 }
`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayWith(backend: ScriptedBackend) {
  const store = await openTestStore('sqlite');
  cleanups.push(() => store.close());
  const gateway = await startIdentityGateway([backend], { store, configText: CONFIG });
  cleanups.push(() => gateway.close());
  const { key } = await userWithKey(gateway.identity, 'rl@uni.example', ['limited']);
  const post = (path: string, body: object) => fetch(`${gateway.url}${path}`, {
    method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { backend, post };
}

const messages = [{ role: 'user', content: 'hi' }];

function expectRateLimit(response: Response, remaining: number): void {
  expect(response.headers.get('x-ratelimit-limit-requests')).toBe('50');
  expect(response.headers.get('x-ratelimit-remaining-requests')).toBe(String(remaining));
  expect(response.headers.get('x-request-id')).toBeTruthy();
}

/** Answers one word, then fails: an error after the first event. */
class BreaksOffBackend extends ScriptedBackend {
  override chat(): AsyncGenerator<ChatEvent> {
    return (async function* (): AsyncGenerator<ChatEvent> {
      yield { type: 'delta', content: 'a' };
      throw new FlexiError('backend_error', 'the node fell over');
    })();
  }
}

/** Holds every stream until `release()`. */
function makeLatch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, release: () => open() };
}

describe('x-ratelimit headers on every admitted answer', () => {
  it('sends them on answers and streams in both protocols, and on embeddings', async () => {
    const { post } = await gatewayWith(new ScriptedBackend({ words: ['a', 'b'] }));
    const answers = [
      await post('/v1/chat/completions', { model: 'tiny', messages }),
      await post('/v1/chat/completions', { model: 'tiny', messages, stream: true }),
      await post('/v1/completions', { model: 'tiny', prompt: 'hi' }),
      await post('/api/chat', { model: 'tiny', messages, stream: false }),
      await post('/api/generate', { model: 'tiny', prompt: 'hi' }),
      await post('/v1/embeddings', { model: 'tiny', input: 'hi' }),
      await post('/api/embed', { model: 'tiny', input: 'hi' }),
      await post('/api/embeddings', { model: 'tiny', prompt: 'hi' }),
    ];
    for (const [index, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      await answer.text();
      expectRateLimit(answer, 49 - index);
    }
  });

  it('sends them on a stream that commits its headers while it waits in the queue', async () => {
    const latch = makeLatch();
    const backend = new ScriptedBackend({ name: 'one', words: ['a', 'b'], gate: latch.wait });
    const { post } = await gatewayWith(backend);
    const first = post('/v1/chat/completions', { model: 'tiny', messages });
    const waiting = await post('/v1/chat/completions', { model: 'tiny', messages, stream: true });
    expect(waiting.status).toBe(200);
    const reader = waiting.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/^: queued position=1/);
    expect(waiting.headers.get('x-ratelimit-limit-requests')).toBe('50');
    latch.release();
    expect((await first).status).toBe(200);
    while (!(await reader.read()).done);
  });

  it('sends them on an error after admission (the node fails before the first byte)', async () => {
    const { post } = await gatewayWith(new ScriptedBackend({ failBeforeFirst: 1 }));
    const failed = await post('/v1/chat/completions', { model: 'tiny', messages });
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('backend_unavailable');
    expectRateLimit(failed, 49);
  });

  it('sends them on an answer that breaks off after the first event (non-streaming, both protocols)', async () => {
    const { post } = await gatewayWith(new BreaksOffBackend());
    const openai = await post('/v1/chat/completions', { model: 'tiny', messages });
    expect(openai.status).toBe(502);
    await openai.text();
    expectRateLimit(openai, 49);
    const ollama = await post('/api/chat', { model: 'tiny', messages, stream: false });
    expect(ollama.status).toBe(502);
    await ollama.text();
    expectRateLimit(ollama, 48);
  });
});
