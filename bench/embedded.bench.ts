/**
 * Embedded engine benchmark: decode tokens/s of a generated ~60M-parameter Q8_0 llama model
 * (vocab 32000, embd 512, 8 layers, 8 heads, ff 1536) called through node-llama-cpp directly,
 * through EmbeddedBackend, and through Flexi's HTTP API (the gateway in-process, streamed with
 * undici from /v1/completions), with the HTTP/direct ratio; aggregate tokens/s of 1, 4 and 8
 * concurrent streams (batched in one context, directly and over HTTP) against the same requests
 * one after another; RSS per loaded model. The three decode paths run interleaved, `rounds` times,
 * and the median of each is reported, so a load change on a shared machine hits them alike.
 *
 *   npm run bench:embedded            (FLEXI_BENCH_TOKENS=64 FLEXI_BENCH_THREADS=0 FLEXI_BENCH_ROUNDS=5 to change)
 *
 * `measureAggregate` takes any "generate one reply" function, so an HTTP variant (gateway) can
 * reuse the concurrency measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { LlamaCompletion, TokenBias, type LlamaModel } from 'node-llama-cpp';
import { request } from 'undici';
import { writeTinyLlamaGguf } from '../test/helpers/gguf-writer.js';
import { createApp, type App } from '../src/app.js';
import { openDatabase, type Store } from '../src/store/store.js';
import { EmbeddedBackend } from '../src/backends/embedded/embedded.backend.js';
import { getLlamaRuntime, resolveThreads } from '../src/backends/embedded/llama-runtime.js';
import { loadConfig } from '../src/config/load.js';
import { readSseEvents } from '../src/lib/lines.js';

export interface AggregateResult {
  concurrency: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Process CPU time per token: robust where other processes share the cores. */
  cpuMsPerToken: number;
}

/** Runs `concurrency` replies at once (or one after another) and returns tokens per wall second. */
export async function measureAggregate(generateOne: (index: number) => Promise<number>, concurrency: number, sequential = false): Promise<AggregateResult> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let tokens = 0;
  if (sequential) {
    for (let i = 0; i < concurrency; i++) tokens += await generateOne(i);
  } else {
    tokens = (await Promise.all(Array.from({ length: concurrency }, (_, i) => generateOne(i)))).reduce((a, b) => a + b, 0);
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return { concurrency, tokens, seconds, tokensPerSecond: tokens / seconds, cpuMsPerToken: (cpu.user + cpu.system) / 1000 / tokens };
}

export interface EmbeddedBenchOptions {
  tokensPerReply: number;
  threads: number;
  concurrencies: number[];
  /** Interleaved repetitions of the three decode measurements (median reported). */
  rounds?: number;
}

/** One streamed reply: decode rate from the arrival of its first to its last token. */
interface DecodeSample {
  tokens: number;
  tokensPerSecond: number;
}

/** Process CPU ms per generated token of one call (engine threads + event loop, client included). */
async function withCpu(run: () => Promise<DecodeSample>): Promise<DecodeSample & { cpuMsPerToken: number }> {
  const start = process.cpuUsage();
  const sample = await run();
  const cpu = process.cpuUsage(start);
  return { ...sample, cpuMsPerToken: (cpu.user + cpu.system) / 1000 / sample.tokens };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Streams `/v1/completions` (raw prompt, as the direct run) from a gateway and times the text
 * chunks as the client receives them: everything Flexi adds per token (event channel, inference
 * service, SSE encoding, HTTP) is inside the measurement.
 */
export async function streamCompletionOverHttp(baseUrl: string, model: string, prompt: string, maxTokens: number): Promise<DecodeSample> {
  const response = await request(`${baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${await response.body.text()}`);
  let firstMs: number | undefined;
  let lastMs = 0;
  let tokens = 0;
  for await (const event of readSseEvents(response.body)) {
    if (event.data === '[DONE]') break;
    const chunk = JSON.parse(event.data) as { choices?: { text?: string }[]; usage?: { completion_tokens: number } | null };
    if (chunk.choices?.[0]?.text) {
      firstMs ??= performance.now();
      lastMs = performance.now();
    }
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { tokens, tokensPerSecond: (tokens - 1) / ((lastMs - (firstMs ?? lastMs)) / 1000) };
}

export interface EmbeddedBenchReport {
  threads: number;
  parameters: number;
  fileBytes: number;
  rounds: number;
  /** Medians over the rounds. */
  directDecodeTokensPerSecond: number;
  backendDecodeTokensPerSecond: number;
  httpDecodeTokensPerSecond: number;
  /** httpDecode ÷ directDecode (target ≥ 0.95). */
  httpToDirectRatio: number;
  /** Medians of process CPU ms per token: robust where other processes share the cores. */
  cpuMsPerToken: { direct: number; backend: number; http: number };
  rssPerModelBytes: number;
  estimatedModelBytes: number;
  aggregate: { concurrency: number; batched: AggregateResult; batchedHttp: AggregateResult; sequential: AggregateResult }[];
}

/** The gateway over one backend, no auth, on 127.0.0.1:0. */
async function startBenchGateway(backend: EmbeddedBackend): Promise<{ app: App; url: string; store: Store }> {
  const config = loadConfig({ fileText: 'auth:\n  mode: none\n' });
  const store = await openDatabase(':memory:');
  await store.migrate();
  const app = await createApp({ config, backends: [backend], store });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  return { app, store, url: `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}` };
}

const PROMPT = 'hello world, the test is brief';

/**
 * node-llama-cpp alone on one sequence of a context kept for every round (as the backend keeps
 * its context), decode rate from the token timestamps.
 */
async function createDirectDecoder(model: LlamaModel, threads: number, tokensPerReply: number): Promise<{ decode(): Promise<DecodeSample>; dispose(): Promise<void> }> {
  const context = await model.createContext({ contextSize: 512, threads });
  const sequence = context.getSequence();
  const bias = new TokenBias(model.tokenizer);
  (bias as unknown as { _biases: Map<number, number> })._biases.set(model.tokens.eos!, -Infinity);
  return {
    async decode() {
      await sequence.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
      let firstMs = 0;
      let lastMs = 0;
      let count = 0;
      await completion.generateCompletion(PROMPT, {
        maxTokens: tokensPerReply, temperature: 0, tokenBias: bias,
        onToken: (tokens) => {
          lastMs = performance.now();
          if (count === 0) firstMs = lastMs;
          count += tokens.length;
        },
      });
      completion.dispose({ disposeSequence: false });
      return { tokens: count, tokensPerSecond: (count - 1) / ((lastMs - firstMs) / 1000) };
    },
    dispose: () => context.dispose(),
  };
}

export async function runEmbeddedBench(options: EmbeddedBenchOptions): Promise<EmbeddedBenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'flexi-bench-'));
  try {
    const file = writeTinyLlamaGguf(join(dir, 'bench-60m.gguf'), {
      vocabSize: 32000, embd: 512, layers: 8, heads: 8, ff: 1536, contextLength: 1024, weightType: 'Q8_0', seed: 60,
    });
    const threads = resolveThreads(options.threads);
    const llama = await getLlamaRuntime({ gpu: 'auto', threads });

    const model = await llama.loadModel({ modelPath: file.path });
    const directDecoder = await createDirectDecoder(model, threads, options.tokensPerReply);

    const maxConcurrency = Math.max(...options.concurrencies);
    const backend = new EmbeddedBackend({
      name: 'bench', modelsDir: dir, slots: maxConcurrency, contextSize: 512, gpu: 'auto', threads,
      keepAliveSeconds: -1, memoryBudgetBytes: 0, ignoreEos: true,
    });
    const rssBefore = process.memoryUsage().rss;
    await backend.setResidency('bench-60m', -1);
    const rssPerModelBytes = process.memoryUsage().rss - rssBefore;
    const [loaded] = await backend.loadedModels();

    const generateOne = async (index: number): Promise<number> => {
      let tokens = 0;
      for await (const event of backend.complete({
        model: 'bench-60m', prompt: `${PROMPT} ${index}`, raw: true, options: { temperature: 0, maxTokens: options.tokensPerReply },
      }, new AbortController().signal)) {
        if (event.type === 'done') tokens = event.usage.completionTokens;
      }
      return tokens;
    };
    const decodeBackend = async (): Promise<DecodeSample> => {
      let sample: DecodeSample = { tokens: 0, tokensPerSecond: 0 };
      for await (const event of backend.complete({ model: 'bench-60m', prompt: PROMPT, raw: true, options: { temperature: 0, maxTokens: options.tokensPerReply } }, new AbortController().signal)) {
        if (event.type === 'done') sample = { tokens: event.usage.completionTokens, tokensPerSecond: (event.usage.completionTokens - 1) / (event.timings.evalNs! / 1e9) };
      }
      return sample;
    };
    const gateway = await startBenchGateway(backend);
    const direct: { tokensPerSecond: number; cpuMsPerToken: number }[] = [];
    const viaBackend: typeof direct = [];
    const viaHttp: typeof direct = [];
    const rounds = options.rounds ?? 5;
    // One warm-up of each path (first-use allocations), then interleaved rounds.
    await directDecoder.decode();
    await streamCompletionOverHttp(gateway.url, 'bench-60m', PROMPT, options.tokensPerReply);
    for (let round = 0; round < rounds; round++) {
      direct.push(await withCpu(() => directDecoder.decode()));
      viaBackend.push(await withCpu(decodeBackend));
      viaHttp.push(await withCpu(() => streamCompletionOverHttp(gateway.url, 'bench-60m', PROMPT, options.tokensPerReply)));
    }
    await directDecoder.dispose();
    await model.dispose();
    const httpGenerateOne = async (index: number): Promise<number> =>
      (await streamCompletionOverHttp(gateway.url, 'bench-60m', `${PROMPT} ${index}`, options.tokensPerReply)).tokens;
    const aggregate: EmbeddedBenchReport['aggregate'] = [];
    for (const concurrency of options.concurrencies) {
      const batched = await measureAggregate(generateOne, concurrency);
      const batchedHttp = await measureAggregate(httpGenerateOne, concurrency);
      const sequential = await measureAggregate(generateOne, concurrency, true);
      aggregate.push({ concurrency, batched, batchedHttp, sequential });
    }
    await gateway.app.close();
    await gateway.store.close();
    await backend.close();
    const rate = (samples: typeof direct) => median(samples.map((sample) => sample.tokensPerSecond));
    const cpu = (samples: typeof direct) => median(samples.map((sample) => sample.cpuMsPerToken));
    const directDecodeTokensPerSecond = rate(direct);
    const httpDecodeTokensPerSecond = rate(viaHttp);
    return {
      threads, parameters: file.parameters, fileBytes: file.sizeBytes, rounds,
      cpuMsPerToken: { direct: cpu(direct), backend: cpu(viaBackend), http: cpu(viaHttp) },
      directDecodeTokensPerSecond, backendDecodeTokensPerSecond: rate(viaBackend),
      httpDecodeTokensPerSecond, httpToDirectRatio: httpDecodeTokensPerSecond / directDecodeTokensPerSecond,
      rssPerModelBytes, estimatedModelBytes: loaded?.sizeBytes ?? 0, aggregate,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printReport(report: EmbeddedBenchReport, tokensPerReply: number): void {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  const lines = [
    `model: ${(report.parameters / 1e6).toFixed(1)}M parameters, Q8_0, ${mb(report.fileBytes)}; threads ${report.threads}; ${tokensPerReply} tokens per reply; decode rates are medians of ${report.rounds} interleaved rounds`,
    '',
    '| measurement | value |',
    '|---|---|',
    `| decode tok/s, node-llama-cpp direct | ${report.directDecodeTokensPerSecond.toFixed(0)} |`,
    `| decode tok/s, EmbeddedBackend | ${report.backendDecodeTokensPerSecond.toFixed(0)} |`,
    `| decode tok/s, Flexi HTTP API (/v1/completions, SSE via undici) | ${report.httpDecodeTokensPerSecond.toFixed(0)} |`,
    `| HTTP ÷ direct (target ≥ 0.95) | ${report.httpToDirectRatio.toFixed(3)} |`,
    `| CPU ms/token: direct / EmbeddedBackend / HTTP (client in the same process) | ${report.cpuMsPerToken.direct.toFixed(2)} / ${report.cpuMsPerToken.backend.toFixed(2)} / ${report.cpuMsPerToken.http.toFixed(2)} |`,
    `| CPU: direct ÷ HTTP (load-independent efficiency) | ${(report.cpuMsPerToken.direct / report.cpuMsPerToken.http).toFixed(3)} |`,
    `| RSS per loaded model (measured) | ${mb(report.rssPerModelBytes)} |`,
    `| memory estimate used for the budget | ${mb(report.estimatedModelBytes)} |`,
    '',
    '| streams | batched tok/s | batched over HTTP tok/s | one after another tok/s | speed-up | batched CPU ms/token | one after another CPU ms/token |',
    '|---|---|---|---|---|---|---|',
    ...report.aggregate.map(({ concurrency, batched, batchedHttp, sequential }) =>
      `| ${concurrency} | ${batched.tokensPerSecond.toFixed(0)} | ${batchedHttp.tokensPerSecond.toFixed(0)} | ${sequential.tokensPerSecond.toFixed(0)} | ${(batched.tokensPerSecond / sequential.tokensPerSecond).toFixed(2)}× | ${batched.cpuMsPerToken.toFixed(2)} | ${sequential.cpuMsPerToken.toFixed(2)} |`),
    '',
    `load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores (tok/s is only meaningful on an otherwise idle machine)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tokensPerReply = Number(process.env.FLEXI_BENCH_TOKENS ?? 64);
  const report = await runEmbeddedBench({
    tokensPerReply,
    threads: Number(process.env.FLEXI_BENCH_THREADS ?? 0),
    concurrencies: [1, 4, 8],
    rounds: Number(process.env.FLEXI_BENCH_ROUNDS ?? 5),
  });
  printReport(report, tokensPerReply);
}
