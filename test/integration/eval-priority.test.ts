import { afterEach, describe, expect, it } from 'vitest';
import { PRIORITY_HEADER } from '../../src/lab/eval/http-engines.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

let gateway: TestGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const chat = () => JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error('condition not met in time');
}

describe('x-flexi-priority (flexi eval and probe run as batch)', () => {
  it('lowers a request to the class it asks for and never raises one', async () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    const backend = new ScriptedBackend({ name: 'one', gate: () => opened });
    gateway = await startGateway([backend], { config: { fileText: 'nodes:\n  - { name: one, type: sim, url: "http://127.0.0.1:9", slots: 8 }\n' } });
    const send = (priority?: string) => fetch(`${gateway!.url}/v1/chat/completions`, {
      method: 'POST', body: chat(),
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...(priority ? { [PRIORITY_HEADER]: priority } : {}) },
    });
    const requests = [send('batch'), send('standard'), send('no-such-class'), send()];
    await until(() => backend.active === 4);
    const model = gateway.app.scheduler!.snapshot().models.find((m) => m.model === 'tiny:latest')!;
    // The test key's role (admin) is interactive.
    expect(model.inFlightByClass).toEqual({ interactive: 2, standard: 1, batch: 1 });
    open();
    expect((await Promise.all(requests)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});
