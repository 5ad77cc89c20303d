/**
 * Embedded engine benchmark: decode tokens/s of a generated ~60M-parameter Q8_0 llama model
 * (vocab 32000, embd 512, 8 layers, 8 heads, ff 1536) called through node-llama-cpp directly and
 * through EmbeddedBackend; aggregate tokens/s of 1, 4 and 8 concurrent streams (batched in one
 * context) against the same requests one after another; RSS per loaded model.
 *
 *   npm run bench:embedded            (FLEXI_BENCH_TOKENS=64 FLEXI_BENCH_THREADS=0 to change)
 *
 * `measureAggregate` takes any "generate one reply" function, so an HTTP variant (gateway) can
 * reuse the concurrency measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaCompletion, TokenBias } from 'node-llama-cpp';
import { writeTinyLlamaGguf } from '../test/helpers/gguf-writer.js';
import { EmbeddedBackend } from '../src/backends/embedded/embedded.backend.js';
import { getLlamaRuntime, resolveThreads } from '../src/backends/embedded/llama-runtime.js';

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
}

export interface EmbeddedBenchReport {
  threads: number;
  parameters: number;
  fileBytes: number;
  directDecodeTokensPerSecond: number;
  backendDecodeTokensPerSecond: number;
  rssPerModelBytes: number;
  estimatedModelBytes: number;
  aggregate: { concurrency: number; batched: AggregateResult; sequential: AggregateResult }[];
}

const PROMPT = 'hello world, the test is brief';

export async function runEmbeddedBench(options: EmbeddedBenchOptions): Promise<EmbeddedBenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'flexi-bench-'));
  try {
    const file = writeTinyLlamaGguf(join(dir, 'bench-60m.gguf'), {
      vocabSize: 32000, embd: 512, layers: 8, heads: 8, ff: 1536, contextLength: 1024, weightType: 'Q8_0', seed: 60,
    });
    const threads = resolveThreads(options.threads);
    const llama = await getLlamaRuntime({ gpu: 'auto', threads });

    // Direct: node-llama-cpp alone, one sequence, decode rate from the token timestamps.
    const model = await llama.loadModel({ modelPath: file.path });
    const context = await model.createContext({ contextSize: 512, threads });
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    const bias = new TokenBias(model.tokenizer);
    (bias as unknown as { _biases: Map<number, number> })._biases.set(model.tokens.eos!, -Infinity);
    let firstMs = 0;
    let count = 0;
    await completion.generateCompletion(PROMPT, {
      maxTokens: options.tokensPerReply, temperature: 0, tokenBias: bias,
      onToken: (tokens) => { if (count === 0) firstMs = performance.now(); count += tokens.length; },
    });
    const directDecodeTokensPerSecond = (count - 1) / ((performance.now() - firstMs) / 1000);
    await context.dispose();
    await model.dispose();

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
    let backendDecodeTokensPerSecond = 0;
    for await (const event of backend.complete({ model: 'bench-60m', prompt: PROMPT, raw: true, options: { temperature: 0, maxTokens: options.tokensPerReply } }, new AbortController().signal)) {
      if (event.type === 'done') backendDecodeTokensPerSecond = (event.usage.completionTokens - 1) / (event.timings.evalNs! / 1e9);
    }
    const aggregate: EmbeddedBenchReport['aggregate'] = [];
    for (const concurrency of options.concurrencies) {
      const batched = await measureAggregate(generateOne, concurrency);
      const sequential = await measureAggregate(generateOne, concurrency, true);
      aggregate.push({ concurrency, batched, sequential });
    }
    await backend.close();
    return {
      threads, parameters: file.parameters, fileBytes: file.sizeBytes,
      directDecodeTokensPerSecond, backendDecodeTokensPerSecond,
      rssPerModelBytes, estimatedModelBytes: loaded?.sizeBytes ?? 0, aggregate,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printReport(report: EmbeddedBenchReport, tokensPerReply: number): void {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  const lines = [
    `model: ${(report.parameters / 1e6).toFixed(1)}M parameters, Q8_0, ${mb(report.fileBytes)}; threads ${report.threads}; ${tokensPerReply} tokens per reply`,
    '',
    '| measurement | value |',
    '|---|---|',
    `| decode tok/s, node-llama-cpp direct | ${report.directDecodeTokensPerSecond.toFixed(0)} |`,
    `| decode tok/s, EmbeddedBackend | ${report.backendDecodeTokensPerSecond.toFixed(0)} |`,
    `| RSS per loaded model (measured) | ${mb(report.rssPerModelBytes)} |`,
    `| memory estimate used for the budget | ${mb(report.estimatedModelBytes)} |`,
    '',
    '| streams | batched tok/s | one after another tok/s | speed-up | batched CPU ms/token | one after another CPU ms/token |',
    '|---|---|---|---|---|---|',
    ...report.aggregate.map(({ concurrency, batched, sequential }) =>
      `| ${concurrency} | ${batched.tokensPerSecond.toFixed(0)} | ${sequential.tokensPerSecond.toFixed(0)} | ${(batched.tokensPerSecond / sequential.tokensPerSecond).toFixed(2)}× | ${batched.cpuMsPerToken.toFixed(2)} | ${sequential.cpuMsPerToken.toFixed(2)} |`),
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
  });
  printReport(report, tokensPerReply);
}
