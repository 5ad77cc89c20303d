/**
 * Checks the running simulator against the fluid model and the paper: for each model, sends
 * Appendix A's bursts (5 prompts × 1/10/30 concurrent /api/chat requests) to an in-process
 * `flexi sim` at high speed and prints paper / fluid model / measured means (simulated s).
 * Run: npx tsx bench/sim-check.ts [speed] [model,model…]
 */
import { PAPER_TIMEOUT_SECONDS } from '../src/lab/data/paper.js';
import { meanBurstSeconds } from '../src/lab/sim/calibration.js';
import { PAPER_PROMPTS, PAPER_SERVER_B } from '../src/lab/sim/profiles.js';
import { startSimServer } from '../src/lab/sim/sim-server.js';
import { loadPaperAppendixA } from '../src/lab/data/paper.js';

const speed = Number(process.argv[2] ?? 100);
const only = process.argv[3]?.split(',');
const sim = await startSimServer({ port: 0, profile: PAPER_SERVER_B, speed });
const paper = loadPaperAppendixA();

async function burst(model: string, prompt: string, n: number): Promise<number> {
  const times = await Promise.all(Array.from({ length: n }, async () => {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), (PAPER_TIMEOUT_SECONDS * 1000) / speed);
    try {
      const response = await fetch(`${sim.url}/api/chat`, {
        method: 'POST', signal: controller.signal,
        body: JSON.stringify({ model, stream: false, messages: [{ role: 'user', content: prompt }] }),
      });
      await response.json();
      return ((performance.now() - started) * speed) / 1000;
    } catch {
      return PAPER_TIMEOUT_SECONDS;
    } finally {
      clearTimeout(timer);
    }
  }));
  return times.reduce((a, b) => a + b, 0) / n;
}

console.log(`speed ×${speed}; seconds are simulated; each cell = mean over the five prompts`);
console.log('model           CQ  paper   model  measured');
for (const profile of PAPER_SERVER_B.models) {
  const name = profile.name.replace(/:latest$/, '');
  if (only && !only.includes(name)) continue;
  await fetch(`${sim.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: name, keep_alive: -1 }) });
  for (const cq of [1, 10, 30]) {
    let p = 0, m = 0, r = 0;
    for (const prompt of PAPER_PROMPTS) {
      p += paper.find((c) => c.model === name && c.prompt === prompt && c.concurrentQueries === cq)!.meanSeconds;
      m += meanBurstSeconds(profile, prompt, cq);
      r += await burst(name, prompt, cq);
    }
    console.log(`${name.padEnd(15)} ${String(cq).padStart(2)} ${(p / 5).toFixed(1).padStart(6)} ${(m / 5).toFixed(1).padStart(7)} ${(r / 5).toFixed(1).padStart(9)}`);
  }
}
console.log("mean pacing lag (simulated ms):", sim.state.info().counters.mean_pacing_lag_ms);
await sim.close();
