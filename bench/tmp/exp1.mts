import { startSimHost, startGateway } from '../scheduler/processes.js';
import { streamChat } from '../../src/lab/client/stream-chat.js';
import { createDispatcher } from '../../src/lab/client/target.js';
const speed = Number(process.argv[2] ?? 10); const n = Number(process.argv[3] ?? 30); const via = process.argv[4] ?? 'flexi'; const model = process.argv[5] ?? 'phi3';
const sim = await startSimHost('paper-server-b', 1, speed, 1);
let url = sim.info.urls[0]!;
let gw;
if (via === 'flexi') {
  gw = await startGateway({ auth: { mode: 'none' }, database: { url: '/tmp/bench-exp.db' }, log: { level: 'warn' }, scheduler: { max_in_flight_per_user: 64 }, nodes: [{ name: 'b', type: 'sim', url, slots: 32 }] });
  url = gw.info.url;
}
const target = { baseUrl: url, protocol: 'ollama' as const, dispatcher: createDispatcher() };
await streamChat(target, { model, prompt: 'hi', timeoutMs: 60000 });
const t0 = performance.now();
const ms = await Promise.all(Array.from({ length: n }, () => streamChat(target, { model, prompt: 'Write a step-by-step guide on how to bake a chocolate cake from scratch.', timeoutMs: 600000 })));
const wall = performance.now() - t0;
const tokens = ms.reduce((a, m) => a + (m.outputTokens ?? 0), 0);
const e2e = ms.map((m) => m.e2eMs * speed / 1000);
console.log({ ok: ms.filter((m) => m.ok).length, wallS: wall / 1000, realTokPerS: tokens / wall * 1000, meanE2eSimS: e2e.reduce((a, b) => a + b) / n });
const info = await (await fetch(`${sim.info.urls[0]}/sim/info`)).json() as any;
console.log('lag', info.counters.mean_pacing_lag_ms);
await gw?.stop(); await sim.stop();
