import { afterEach, describe, expect, it } from 'vitest';
import type { ChatEvent } from '../../src/core/types.js';
import { FlexiError } from '../../src/core/errors.js';
import { readSseEvents, readNdjson } from '../../src/lib/lines.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

const headers = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };
let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

/** A gate the test opens step by step: each `open()` lets one event through. */
function makeGate() {
  const waiters: (() => void)[] = [];
  let credits = 0;
  return {
    wait: () => new Promise<void>((resolve) => {
      if (credits > 0) {
        credits--;
        resolve();
      } else waiters.push(resolve);
    }),
    open(n = 1) {
      for (let i = 0; i < n; i++) {
        const next = waiters.shift();
        if (next) next();
        else credits++;
      }
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  // Socket closes propagate through the event loop; poll with a deadline instead of a fixed sleep.
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

describe('streams and cancellation', () => {
  it('a client disconnect aborts the upstream stream', async () => {
    const gate = makeGate();
    const backend = new ScriptedBackend({ gate: gate.wait });
    gateway = await startGateway([backend]);
    const controller = new AbortController();
    const response = await (async () => {
      gate.open(1);
      return fetch(`${gateway!.url}/v1/chat/completions`, {
        method: 'POST', headers, signal: controller.signal,
        body: JSON.stringify({ model: 'tiny', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
    })();
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    expect(backend.active).toBe(1);
    controller.abort();
    await until(() => gateway!.app.dispatcher.inFlight().get('scripted') === 0);
    gate.open(10);
    await until(() => backend.active === 0);
    expect(backend.aborted).toBe(1);
  });

  it('a failure after the first byte is one in-band error frame and no [DONE]', async () => {
    const backend = new ScriptedBackend();
    backend.chat = async function* (): AsyncGenerator<ChatEvent> {
      yield { type: 'delta', content: 'partial' };
      throw new FlexiError('backend_error', 'node crashed');
    };
    gateway = await startGateway([backend]);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers, body: JSON.stringify({ model: 'tiny', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(200);
    const events = [];
    for await (const event of readSseEvents(response.body!)) events.push(event.data);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!)).toEqual({ error: { message: 'node crashed', type: 'server_error', param: null, code: 'backend_error' } });
    expect(events).not.toContain('[DONE]');

    const ollama = await fetch(`${gateway.url}/api/chat`, {
      method: 'POST', headers, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const lines = [];
    for await (const line of readNdjson(ollama.body!)) lines.push(line);
    expect(lines.at(-1)).toEqual({ error: 'node crashed' });
  });

  it('a failure before the first byte gets a real status', async () => {
    const backend = new ScriptedBackend({ failBeforeFirst: 5 });
    gateway = await startGateway([backend]);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers, body: JSON.stringify({ model: 'tiny', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('backend_unavailable');
  });

  it('retries once on another node when the first failed before any byte', async () => {
    const down = new ScriptedBackend({ name: 'a-down', failBeforeFirst: 100 });
    const up = new ScriptedBackend({ name: 'b-up' });
    gateway = await startGateway([down, up]);
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${gateway.url}/api/generate`, {
        method: 'POST', headers, body: JSON.stringify({ model: 'tiny', prompt: 'x', stream: false }),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { response: string }).response).toBe('Hello from Flexi. The end.');
    }
    expect(up.seen.length).toBe(4);
  });

  it('streams OpenAI chunks with one id, role first, finish_reason last, usage before [DONE]', async () => {
    gateway = await startGateway([new ScriptedBackend()]);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers,
      body: JSON.stringify({ model: 'tiny', stream: true, stream_options: { include_usage: true }, max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-flexi-queue-ms')).toBe('0');
    const data: string[] = [];
    for await (const event of readSseEvents(response.body!)) data.push(event.data);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { id: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage: unknown });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('translates tool calls to both protocols', async () => {
    gateway = await startGateway([new ScriptedBackend()]);
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const openai = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST', headers, body: JSON.stringify({ model: 'tiny', tools, tool_choice: 'required', messages: [{ role: 'user', content: 'weather?' }] }),
    });
    const body = (await openai.json()) as { choices: { finish_reason: string; message: { tool_calls: { function: { name: string; arguments: string } }[] } }[] };
    expect(body.choices[0]!.finish_reason).toBe('tool_calls');
    expect(body.choices[0]!.message.tool_calls[0]!.function).toEqual({ name: 'get_weather', arguments: '{"city":"Hagen"}' });
  });
});
