import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { toCanonicalModelName } from '../../core/model-name.js';

/** Per-stream slowdown when k streams of one model share the GPU: g(k) = (1 + alpha·(k−1))^exponent. */
const contentionSchema = z.object({
  alpha: z.number().min(0).describe('Linear slowdown per extra concurrent stream.'),
  exponent: z.number().min(0).max(2).default(1).describe('Shape: 1 = linear, <1 = aggregate throughput grows faster.'),
});

const outputTokensSchema = z.object({
  mean: z.number().int().min(1).describe('Mean generated tokens for a prompt the profile does not list.'),
  spread: z.number().min(0).max(1).default(0.3).describe('Lengths are uniform in mean·(1 ± spread).'),
  byPrompt: z.array(z.object({ prompt: z.string(), tokens: z.number().int().min(1) })).default([])
    .describe('Calibrated mean length for known prompts (matched after trimming and folding whitespace).'),
});

export const simModelSchema = z.object({
  name: z.string().min(1).transform(toCanonicalModelName).describe('Ollama name; a name without a tag means :latest.'),
  family: z.string().default('llama'),
  architecture: z.string().default('llama').describe('GGUF architecture, prefix of model_info keys.'),
  parameterSize: z.string().default('7B'),
  parameterCount: z.number().int().min(0).default(7_000_000_000),
  quantization: z.string().default('Q4_0'),
  contextLength: z.number().int().min(1).default(8192),
  embeddingLength: z.number().int().min(1).default(768).describe('Dimension of the vectors /api/embed returns.'),
  license: z.string().default(''),
  capabilities: z.array(z.string()).default(['completion']),
  sizeGb: z.number().min(0).describe('Memory the loaded model takes (GB, 1e9 bytes).'),
  loadMs: z.number().min(0).default(2000).describe('Simulated time to load the model.'),
  ttftMs: z.number().min(0).default(100).describe('Time to first token of a short prompt, one stream, model loaded.'),
  prefillTokensPerSecond: z.number().positive().default(2000).describe('Prompt tokens per second beyond the first 32.'),
  decodeTokensPerSecond: z.number().positive().describe('Decode rate of one stream alone (eval_count / eval_duration).'),
  slots: z.number().int().min(1).default(4).describe('Parallel streams (OLLAMA_NUM_PARALLEL); more requests queue FIFO.'),
  maxQueue: z.number().int().min(0).optional().describe('Bound on the per-model slot queue (503 beyond); unbounded if absent, as in Ollama.'),
  contention: contentionSchema.default({ alpha: 0.3, exponent: 1 }),
  outputTokens: outputTokensSchema,
  quality: z.record(z.string(), z.number().min(0).max(1)).default({})
    .describe('Accuracy per benchmark column (arc, hellaswag, mmlu, truthfulqa, winogrande, gsm8k): items of a known benchmark are answered correctly with this probability.'),
});

const faultsSchema = z.object({
  errorRate: z.number().min(0).max(1).default(0).describe('Share of requests answered 500 before the first byte.'),
  hangRate: z.number().min(0).max(1).default(0).describe('Share of requests that are accepted and never answered.'),
  dropRate: z.number().min(0).max(1).default(0).describe('Share of requests whose socket closes after a few tokens.'),
  garbageRate: z.number().min(0).max(1).default(0).describe('Share of requests answered with non-JSON lines.'),
});

export const simProfileSchema = z.object({
  name: z.string().min(1),
  description: z.string().default(''),
  memoryGb: z.number().positive().describe('Memory budget of the node (GB): models are evicted to fit.'),
  maxLoadQueue: z.number().int().min(0).default(512).describe('Requests that may wait for a model load (OLLAMA_MAX_QUEUE); 503 beyond.'),
  keepAliveMs: z.number().default(300_000).describe('Default keep_alive (simulated ms); negative keeps models loaded.'),
  faults: faultsSchema.default({ errorRate: 0, hangRate: 0, dropRate: 0, garbageRate: 0 }),
  models: z.array(simModelSchema).min(1),
});

export type SimModelProfile = z.output<typeof simModelSchema>;
export type SimProfile = z.output<typeof simProfileSchema>;
export type SimFaults = SimProfile['faults'];
/** What a profile author writes: defaults may be left out. */
export type SimProfileInput = z.input<typeof simProfileSchema>;

/** Validates a profile object (camelCase or snake_case keys) and fills defaults. */
export function parseSimProfile(input: unknown, source = 'profile'): SimProfile {
  const result = simProfileSchema.safeParse(camelizeKeys(input));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const names = new Set<string>();
  for (const model of result.data.models) {
    if (names.has(model.name)) throw new Error(`${source}: model ${model.name} is listed twice`);
    names.add(model.name);
  }
  return result.data;
}

/** Reads a profile from a .json, .yaml or .yml file. */
export async function loadSimProfileFile(path: string): Promise<SimProfile> {
  const text = await readFile(path, 'utf8');
  const ext = extname(path).toLowerCase();
  const data: unknown = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  return parseSimProfile(data, path);
}

/** snake_case keys → camelCase, so profile files may follow the config file's convention. */
function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())] = camelizeKeys(inner);
  }
  return out;
}
