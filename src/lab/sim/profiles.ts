import { loadPaperTable4 } from '../data/paper.js';
import { parseSimProfile, type SimModelProfile, type SimProfile, type SimProfileInput } from './profile.js';

/** The five prompts of the paper's Appendix A load test. */
export const PAPER_PROMPTS = [
  'Write a step-by-step guide on how to bake a chocolate cake from scratch.',
  'Develop a python function that solves the following problem, sudoku game',
  'Create a dialogue between two characters that discusses economic crisis',
  'In a forest, there are brave lions living there. Please continue the story.',
  'I’d like to book a flight for 4 to Seattle in U.S.',
] as const;

type ModelInput = SimProfileInput['models'][number];

interface PaperModel {
  base: Omit<ModelInput, 'outputTokens'>;
  /** Appendix A mean seconds at 1 CQ, one per PAPER_PROMPTS entry. */
  oneCqSeconds: readonly [number, number, number, number, number];
}

/**
 * Output lengths are derived from the paper, not guessed: a lone request takes
 * ttft + tokens / rate, so tokens = (Appendix A 1-CQ mean − ttft) × Table 4 rate.
 */
function calibrate({ base, oneCqSeconds }: PaperModel): ModelInput {
  const byPrompt = PAPER_PROMPTS.map((prompt, i) => ({
    prompt,
    tokens: Math.max(1, Math.round((oneCqSeconds[i]! - (base.ttftMs ?? 100) / 1000) * base.decodeTokensPerSecond)),
  }));
  const mean = Math.round(byPrompt.reduce((sum, entry) => sum + entry.tokens, 0) / byPrompt.length);
  return { ...base, outputTokens: { mean, spread: 0.3, byPrompt }, quality: paperQuality(base.name) };
}

/** The model's Table 4 leaderboard scores, which the sim answers benchmark items with. */
function paperQuality(name: string): Record<string, number> {
  const row = loadPaperTable4().find((r) => r.model === name);
  if (!row) return {};
  const { arc, hellaswag, mmlu, truthfulqa, winogrande, gsm8k } = row;
  return { arc, hellaswag, mmlu, truthfulqa, winogrande, gsm8k };
}

/*
 * Server B: 2 × NVIDIA A40 (2 × 46 GB). Sizes are Ollama's default Q4 downloads; parameter
 * counts, context and licence from the paper's Table 3; decode rates from Table 4; contention
 * and slots fitted to Appendix A at 10 and 30 CQ (docs/sim.md shows the fit).
 */
const PAPER_MODELS: PaperModel[] = [
  {
    base: {
      name: 'phi3', family: 'phi3', architecture: 'phi3', parameterSize: '4B', parameterCount: 4e9, contextLength: 4096,
      embeddingLength: 3072, license: 'MIT', sizeGb: 2.2, loadMs: 1900, ttftMs: 60, prefillTokensPerSecond: 4000,
      decodeTokensPerSecond: 127, slots: 32, contention: { alpha: 1.42, exponent: 0.3 },
    },
    oneCqSeconds: [4, 5, 3, 4, 4],
  },
  {
    base: {
      name: 'llama3', family: 'llama', architecture: 'llama', parameterSize: '8B', parameterCount: 8e9, contextLength: 8192,
      embeddingLength: 4096, license: 'model specific', sizeGb: 4.7, loadMs: 2900, ttftMs: 100, prefillTokensPerSecond: 3000,
      decodeTokensPerSecond: 82, slots: 32, contention: { alpha: 1.84, exponent: 0.5 },
    },
    oneCqSeconds: [14, 14, 13, 13, 8],
  },
  {
    base: {
      name: 'mistral', family: 'llama', architecture: 'llama', parameterSize: '7B', parameterCount: 7e9, contextLength: 32768,
      embeddingLength: 4096, license: 'Apache 2.0', capabilities: ['completion', 'tools'], sizeGb: 4.1, loadMs: 2600,
      ttftMs: 100, prefillTokensPerSecond: 3000, decodeTokensPerSecond: 94, slots: 32, contention: { alpha: 2.78, exponent: 0.5 },
    },
    oneCqSeconds: [11, 12, 10, 11, 7],
  },
  {
    base: {
      name: 'gemma', family: 'gemma', architecture: 'gemma', parameterSize: '7B', parameterCount: 7e9, contextLength: 8192,
      embeddingLength: 3072, license: 'model specific', sizeGb: 5.0, loadMs: 3000, ttftMs: 120, prefillTokensPerSecond: 2800,
      decodeTokensPerSecond: 77, slots: 32, contention: { alpha: 1.3, exponent: 0.4 },
    },
    oneCqSeconds: [10, 9, 10, 10, 5],
  },
  {
    base: {
      name: 'llava', family: 'llama', architecture: 'llama', parameterSize: '13B', parameterCount: 13e9, contextLength: 32768,
      embeddingLength: 5120, license: 'Apache 2.0', capabilities: ['completion', 'vision'], sizeGb: 8.0, loadMs: 4200,
      ttftMs: 150, prefillTokensPerSecond: 1800, decodeTokensPerSecond: 60, slots: 32, contention: { alpha: 1.02, exponent: 0.4 },
    },
    oneCqSeconds: [8, 14, 6, 13, 7],
  },
  {
    base: {
      name: 'mixtral', family: 'llama', architecture: 'llama', parameterSize: '176B', parameterCount: 176e9, contextLength: 8192,
      embeddingLength: 6144, license: 'Apache 2.0', capabilities: ['completion', 'tools'], sizeGb: 80, loadMs: 33000,
      ttftMs: 700, prefillTokensPerSecond: 300, decodeTokensPerSecond: 11, slots: 32, contention: { alpha: 0.36, exponent: 1 },
    },
    oneCqSeconds: [76, 83, 59, 56, 21],
  },
  {
    base: {
      name: 'dbrx', family: 'dbrx', architecture: 'dbrx', parameterSize: '132B', parameterCount: 132e9, contextLength: 32768,
      embeddingLength: 6144, license: 'model specific', sizeGb: 74, loadMs: 30600, ttftMs: 700, prefillTokensPerSecond: 300,
      decodeTokensPerSecond: 11, slots: 32, contention: { alpha: 1.22, exponent: 0.7 },
    },
    oneCqSeconds: [61, 66, 46, 41, 26],
  },
  {
    base: {
      name: 'command-r-plus', family: 'command-r', architecture: 'command-r', parameterSize: '104B', parameterCount: 104e9,
      contextLength: 131072, embeddingLength: 12288, license: 'model specific', capabilities: ['completion', 'tools'],
      sizeGb: 59, loadMs: 24600, ttftMs: 900, prefillTokensPerSecond: 250, decodeTokensPerSecond: 5, slots: 32,
      contention: { alpha: 0.36, exponent: 1 },
    },
    oneCqSeconds: [106, 110, 101, 80, 21],
  },
];

export const PAPER_SERVER_B: SimProfile = parseSimProfile({
  name: 'paper-server-b',
  description: "The paper's server B (2 × NVIDIA A40, 92 GB) with its eight Ollama models, calibrated to Tables 3–4 and Appendix A.",
  memoryGb: 92,
  maxLoadQueue: 512,
  keepAliveMs: 300_000,
  models: PAPER_MODELS.map(calibrate),
}, 'paper-server-b');

/*
 * Server A: 8 × NVIDIA RTX A5000 (24 GB each). Modelled per GPU: one profile is one A5000 running
 * its own Ollama (one pod per GPU), and server A is eight nodes of it. Ollama does not replicate a
 * model across the GPUs of one instance, so one 192 GB node would pretend that eight GPUs serve
 * one model's streams together; per-GPU nodes give the gateway real replicas to place on. The
 * price: the three big models (59–80 GB) would need 3–4 GPUs split by layers and are left out,
 * so in a cluster of A and B they run on B only.
 *
 * Per model, from server B's calibration: output lengths and contention (α, β: a model runs on
 * one GPU in both servers) unchanged; decode rate × 768/696 (memory bandwidth A5000 : A40, decode
 * is bandwidth-bound); first token and prefill ÷ 37.4/27.8 (FP32 TFLOPS A40 : A5000, prefill is
 * compute-bound); 4 slots (Ollama's OLLAMA_NUM_PARALLEL default where memory allows) and a size
 * that includes the KV cache of those slots at 2048 tokens each, as `/api/ps` reports it.
 */
const A5000_DECODE_FACTOR = 768 / 696;
const A5000_PREFILL_FACTOR = 27.8 / 37.4;
const A5000_SLOTS = 4;
const SLOT_CONTEXT_TOKENS = 2048;
/** KV cache bytes per token (layers × KV heads × head dim × 2 (K, V) × 2 bytes fp16). */
const KV_BYTES_PER_TOKEN: Readonly<Record<string, number>> = {
  'phi3:latest': 32 * 32 * 96 * 4,
  'llama3:latest': 32 * 8 * 128 * 4,
  'mistral:latest': 32 * 8 * 128 * 4,
  'gemma:latest': 28 * 16 * 256 * 4,
  'llava:latest': 40 * 40 * 128 * 4,
};
const A5000_MEMORY_GB = 24;

function onA5000(model: SimModelProfile): SimModelProfile {
  const kvGb = (KV_BYTES_PER_TOKEN[model.name]! * SLOT_CONTEXT_TOKENS * A5000_SLOTS) / 1e9;
  return {
    ...model,
    sizeGb: Math.round((model.sizeGb + kvGb) * 10) / 10,
    ttftMs: Math.round(model.ttftMs / A5000_PREFILL_FACTOR),
    prefillTokensPerSecond: Math.round(model.prefillTokensPerSecond * A5000_PREFILL_FACTOR),
    decodeTokensPerSecond: Math.round(model.decodeTokensPerSecond * A5000_DECODE_FACTOR * 10) / 10,
    slots: A5000_SLOTS,
  };
}

export const PAPER_SERVER_A: SimProfile = parseSimProfile({
  name: 'paper-server-a',
  description: "One GPU of the paper's server A (NVIDIA RTX A5000, 24 GB) with the five models that fit it; server A is eight such nodes.",
  memoryGb: A5000_MEMORY_GB,
  maxLoadQueue: 512,
  keepAliveMs: 300_000,
  models: PAPER_SERVER_B.models.filter((m) => m.name in KV_BYTES_PER_TOKEN).map(onA5000),
}, 'paper-server-a');

/**
 * A small, fast profile for tests and development: a 10 GB node where `tiny` and `big` cannot be
 * resident together (so loading one evicts the other), plus an embedding model.
 */
export const TINY: SimProfile = parseSimProfile({
  name: 'tiny',
  description: 'A fast toy node for tests: 10 GB, three chat models and one embedding model.',
  memoryGb: 10,
  maxLoadQueue: 8,
  keepAliveMs: 300_000,
  models: [
    {
      name: 'tiny', family: 'llama', architecture: 'llama', parameterSize: '1B', parameterCount: 1e9, contextLength: 4096,
      embeddingLength: 16, capabilities: ['completion', 'tools'], sizeGb: 4, loadMs: 200, ttftMs: 20, decodeTokensPerSecond: 200,
      slots: 2, contention: { alpha: 0.5, exponent: 1 }, outputTokens: { mean: 24, spread: 0.5 },
    },
    {
      name: 'small', family: 'llama', architecture: 'llama', parameterSize: '1B', parameterCount: 1e9, contextLength: 4096,
      embeddingLength: 16, sizeGb: 1, loadMs: 100, ttftMs: 20, decodeTokensPerSecond: 200, slots: 1,
      outputTokens: { mean: 16, spread: 0.5 },
    },
    {
      name: 'big', family: 'llama', architecture: 'llama', parameterSize: '13B', parameterCount: 13e9, contextLength: 8192,
      embeddingLength: 32, capabilities: ['completion', 'vision'], sizeGb: 7, loadMs: 500, ttftMs: 50, decodeTokensPerSecond: 50,
      slots: 1, outputTokens: { mean: 24, spread: 0.5 },
    },
    {
      name: 'embed', family: 'nomic-bert', architecture: 'nomic-bert', parameterSize: '137M', parameterCount: 137e6,
      contextLength: 2048, embeddingLength: 8, capabilities: ['embedding'], sizeGb: 0.5, loadMs: 50, ttftMs: 5,
      decodeTokensPerSecond: 1000, slots: 4, outputTokens: { mean: 1, spread: 0 },
    },
  ],
}, 'tiny');

export const BUILTIN_PROFILES: Readonly<Record<string, SimProfile>> = {
  [PAPER_SERVER_A.name]: PAPER_SERVER_A,
  [PAPER_SERVER_B.name]: PAPER_SERVER_B,
  [TINY.name]: TINY,
};

export function findModelProfile(profile: SimProfile, canonicalName: string): SimModelProfile | undefined {
  return profile.models.find((model) => model.name === canonicalName);
}
