import { describe, expect, it } from 'vitest';
import { FlexiError } from '../../src/core/errors.js';
import type { ModelInfo, NodeHealth } from '../../src/core/types.js';
import { describeEachDatabase } from '../helpers/db.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

/** A node that can be switched off: listing and health then fail as a refused connection does. */
class SwitchableBackend extends ScriptedBackend {
  down = false;

  override async listModels(): Promise<ModelInfo[]> {
    if (this.down) throw new FlexiError('backend_unavailable', `node "${this.name}" is unreachable (ECONNREFUSED)`);
    return super.listModels();
  }

  override async health(): Promise<NodeHealth> {
    return this.down ? { ok: false, latencyMs: 0, message: 'ECONNREFUSED' } : super.health();
  }
}

const CONFIG = {
  env: {
    FLEXI_AUTH_MODE: 'none',
    FLEXI_NODES: JSON.stringify([{ name: 'gpu1', type: 'sim', url: 'http://gpu1.example:11500' }]),
  },
};

async function chat(gateway: TestGateway, model: string) {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { error: { code: string; message: string; param: string } } };
}

describeEachDatabase('a model whose node is down', (getStore) => {
  it('gets 503 node_unreachable naming the node, its url and the cause, also after a restart', async () => {
    const node = new SwitchableBackend({ name: 'gpu1', models: ['llama3:8b'] });
    const first = await startGateway([node], { config: CONFIG, deps: { store: getStore() } });
    expect((await chat(first, 'llama3:8b')).status).toBe(200);
    await first.close();

    // A restart with the node down: only the store still knows what gpu1 served.
    node.down = true;
    const restarted = await startGateway([node], { config: CONFIG, deps: { store: getStore() } });
    try {
      const reply = await chat(restarted, 'llama3:8b');
      expect(reply.status).toBe(503);
      expect(reply.body.error.code).toBe('node_unreachable');
      expect(reply.body.error.message).toContain('"gpu1" (http://gpu1.example:11500): node "gpu1" is unreachable (ECONNREFUSED)');
      expect(Number(reply.retryAfter)).toBeGreaterThan(0);

      const ollama = await fetch(`${restarted.url}/api/chat`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama3:8b', messages: [{ role: 'user', content: 'hi' }], stream: false }),
      });
      expect(ollama.status).toBe(503);
      expect(((await ollama.json()) as { error: string }).error).toContain('gpu1');

      // A name no node ever served is still unknown.
      const unknown = await chat(restarted, 'no-such-model');
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('model_not_found');
    } finally {
      await restarted.close();
    }
  });

  it('gets 503 while the node is down and 200 again once it answers, in one process', async () => {
    const node = new SwitchableBackend({ name: 'gpu1', models: ['llama3:8b'] });
    const gateway = await startGateway([node], { config: CONFIG, deps: { store: getStore() } });
    try {
      node.down = true;
      await gateway.app.registry.refresh();
      expect((await chat(gateway, 'llama3:8b')).body.error.code).toBe('node_unreachable');
      node.down = false;
      await gateway.app.registry.refresh();
      expect((await chat(gateway, 'llama3:8b')).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('forgets a model the node no longer lists', async () => {
    const node = new SwitchableBackend({ name: 'gpu1', models: ['llama3:8b', 'phi3:latest'] });
    const first = await startGateway([node], { config: CONFIG, deps: { store: getStore() } });
    await first.close();
    const shrunk = new SwitchableBackend({ name: 'gpu1', models: ['llama3:8b'] });
    const second = await startGateway([shrunk], { config: CONFIG, deps: { store: getStore() } });
    await second.close();
    shrunk.down = true;
    const third = await startGateway([shrunk], { config: CONFIG, deps: { store: getStore() } });
    try {
      expect((await chat(third, 'phi3')).status).toBe(404);
      expect((await chat(third, 'llama3:8b')).status).toBe(503);
    } finally {
      await third.close();
    }
  });
});

describe('an openai node whose listing answers 404', () => {
  it('names the likely cause: the url lacks /v1', async () => {
    const node = new SwitchableBackend({ name: 'vllm' });
    // The scripted backend speaks canonically; only its type decides the hint.
    Object.defineProperty(node, 'type', { value: 'openai' });
    node.listModels = () => Promise.reject(new FlexiError('backend_error', 'node "vllm" answered /models with 404: HTTP 404'));
    const gateway = await startGateway([node], {
      config: { env: { FLEXI_AUTH_MODE: 'none', FLEXI_NODES: JSON.stringify([{ name: 'vllm', type: 'openai', url: 'http://gpu1.example:8000' }]) } },
    });
    try {
      expect(gateway.app.registry.nodeError('vllm')).toContain('did you mean http://gpu1.example:8000/v1?');
    } finally {
      await gateway.close();
    }
  });
});
