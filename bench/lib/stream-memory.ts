import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Child } from './children.js';
import { readRssBytes } from './children.js';
import { chatBody, createPool } from './load.js';

const CONTENT = /"content":"[^"]/;

export interface MemorySample {
  /** VmRSS from /proc after a full GC. */
  rssBytes: number;
  heapUsedBytes: number;
}

export interface StreamMemory {
  idleRssBytes: number;
  openRssBytes: number;
  growthPerStreamBytes: number;
  heapGrowthPerStreamBytes: number;
  /** Seconds until every stream had its first token. */
  openSeconds: number;
}

/**
 * Asks the child (preloaded with gc-on-signal.mjs) for a full GC, waits for its report, then
 * reads RSS from /proc.
 */
export async function sampleMemory(child: Child): Promise<MemorySample> {
  const reported = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${child.name} did not report memory (is gc-on-signal.mjs preloaded?)`));
    }, 5000);
    const unsubscribe = child.onStderrLine((line) => {
      if (!line.startsWith('BENCH_MEM ')) return;
      clearTimeout(timer);
      unsubscribe();
      resolve((JSON.parse(line.slice('BENCH_MEM '.length)) as { heapUsed: number }).heapUsed);
    });
  });
  child.process.kill('SIGUSR2');
  const heapUsedBytes = await reported;
  // Let the allocator hand freed pages back before reading RSS.
  await sleep(200);
  return { rssBytes: readRssBytes(child.pid), heapUsedBytes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function settledSample(child: Child, samples = 3): Promise<MemorySample> {
  const taken: MemorySample[] = [];
  for (let i = 0; i < samples; i++) {
    taken.push(await sampleMemory(child));
    await sleep(300);
  }
  return { rssBytes: median(taken.map((s) => s.rssBytes)), heapUsedBytes: median(taken.map((s) => s.heapUsedBytes)) };
}

/**
 * Opens `streams` concurrent streaming chats of the slow model (1 token/s) through `child`,
 * waits until every one has its first token, and returns the RSS growth per open stream. The
 * streams are read as they arrive (no backpressure builds up) and cancelled at the end.
 */
export async function measureStreamMemory(child: Child, streams: number, headers: Record<string, string>): Promise<StreamMemory> {
  const url = child.ready;
  const idle = await settledSample(child);
  const pool = createPool(url, streams);
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const body = chatBody({ protocol: 'openai', stream: true, model: 'slow' });
  const start = performance.now();
  let firstTokens = 0;
  const opened = Array.from({ length: streams }, async () => {
    const response = await pool.request({
      method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', ...headers }, body, signal: controller.signal,
    });
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 200)}`);
    let counted = false;
    const reading = (async () => {
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          if (!counted && CONTENT.test(chunk.toString('utf8'))) {
            counted = true;
            firstTokens++;
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    // Wrapped: returning the promise itself would make this one wait for the stream's end.
    return { reading };
  });
  const readers = (await Promise.all(opened)).map((r) => r.reading);
  while (firstTokens < streams) {
    if (performance.now() - start > 120_000) throw new Error(`only ${firstTokens} of ${streams} streams started within 120 s`);
    await sleep(100);
  }
  const openSeconds = (performance.now() - start) / 1000;
  await sleep(1000);
  const open = await settledSample(child);
  controller.abort();
  await Promise.all(readers);
  await pool.destroy().catch(() => undefined);
  // Give the gateway time to tear the upstream streams down before the next measurement.
  await sleep(1500);
  return {
    idleRssBytes: idle.rssBytes,
    openRssBytes: open.rssBytes,
    growthPerStreamBytes: (open.rssBytes - idle.rssBytes) / streams,
    heapGrowthPerStreamBytes: (open.heapUsedBytes - idle.heapUsedBytes) / streams,
    openSeconds,
  };
}
