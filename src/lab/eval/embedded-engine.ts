import type { Token } from 'node-llama-cpp';
import { getLlamaRuntime, resolveThreads, type EmbeddedGpu } from '../../backends/embedded/llama-runtime.js';
import type { EvalEngine } from './http-engines.js';

/**
 * Log-likelihood on the embedded engine (llama.cpp in this process): the CLI loads a GGUF file
 * and reads the probability of every continuation token from the model's full next-token
 * distribution (node-llama-cpp `controlledEvaluate`). Flexi's chat API has no prompt logprobs,
 * so this is the path the Leaderboard's method takes on a GGUF the operator serves.
 */
export interface EmbeddedEvalOptions {
  modelPath: string;
  gpu?: EmbeddedGpu;
  /** 0 = automatic (see resolveThreads). */
  threads?: number;
  contextSize?: number;
}

/** Floor for a token the sampler left out of the distribution (probability 0 would be −∞). */
const MIN_PROBABILITY = 1e-30;

export async function openEmbeddedEngine(options: EmbeddedEvalOptions): Promise<EvalEngine> {
  const llama = await getLlamaRuntime({ gpu: options.gpu ?? 'auto', threads: resolveThreads(options.threads ?? 0) });
  const model = await llama.loadModel({ modelPath: options.modelPath });
  const contextSize = Math.min(options.contextSize ?? 4096, model.trainContextSize);
  const context = await model.createContext({ contextSize, sequences: 1 });
  const sequence = context.getSequence();
  const bos: Token[] = model.tokens.bos !== null && model.tokens.shouldPrependBosToken ? [model.tokens.bos] : [];
  // One sequence: requests run one after another (the CLI's concurrency does not apply here).
  let queue: Promise<unknown> = Promise.resolve();

  async function score(contextText: string, continuation: string): Promise<number> {
    const contextTokens = model.tokenize(contextText);
    const whole = model.tokenize(`${contextText}${continuation}`);
    // Where the two tokenizations part is where the continuation starts (a boundary token may merge).
    let start = 0;
    while (start < contextTokens.length && start < whole.length && contextTokens[start] === whole[start]) start++;
    if (start >= whole.length) throw new Error('the continuation adds no tokens');
    let input = [...bos, ...whole];
    const first = bos.length + Math.max(start, 1);
    if (input.length > contextSize) {
      const cut = input.length - contextSize;
      if (cut >= first) throw new Error(`the continuation alone is longer than the context (${contextSize} tokens)`);
      input = input.slice(cut);
    }
    const offset = input.length - (bos.length + whole.length);
    const firstScored = first + offset;
    await sequence.clearHistory();
    const results = await sequence.controlledEvaluate(input.map((token, i) => (
      i >= firstScored - 1 && i < input.length - 1
        ? [token, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }]
        : token
    )));
    let sum = 0;
    for (let i = firstScored; i < input.length; i++) {
      const probability = results[i - 1]?.next.probabilities?.get(input[i]!) ?? 0;
      sum += Math.log(Math.max(probability, MIN_PROBABILITY));
    }
    return sum;
  }

  return {
    method: 'loglik',
    description: `log-likelihood of each choice on the embedded engine (llama.cpp, ${options.modelPath.split('/').pop()})`,
    async loglik(requests, signal) {
      const run = queue.then(async () => {
        const out: number[] = [];
        for (const request of requests) {
          signal.throwIfAborted();
          out.push(await score(request.context, request.continuation));
        }
        return out;
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      await context.dispose();
      await model.dispose();
    },
  };
}
