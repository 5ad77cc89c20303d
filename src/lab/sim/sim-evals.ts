import { readEvalFile, LETTERS, type EvalItem, type EvalTask } from '../eval/eval-data.js';
import { createRng } from './prng.js';
import type { SimModelProfile } from './profile.js';

/**
 * How `flexi sim` answers benchmark items. Given answer keys (the benchmark files themselves),
 * a model answers an item it recognises correctly with probability = its accuracy on the task
 * (the paper's Table 4 for the paper's models), decided by a seeded draw per model and item,
 * so `flexi eval` against the sim must reproduce those accuracies within their intervals — an
 * end-to-end check of parsing, prompting, scoring and intervals. Items it does not know get a
 * random letter, like a model that guesses. The draw is the same whichever method asks (chat
 * or log-likelihood), so both methods agree item by item.
 */

/** The paper's quality columns; the tasks that report under each. */
export const QUALITY_COLUMN: Record<EvalTask, string> = {
  arc_easy: 'arc', arc_challenge: 'arc', hellaswag: 'hellaswag', mmlu: 'mmlu',
  truthfulqa_mc1: 'truthfulqa', truthfulqa_mc2: 'truthfulqa', winogrande: 'winogrande', gsm8k: 'gsm8k',
};

interface KnownItem {
  item: EvalItem;
  /** Log-likelihood prompts end with one of these (context + continuation), one per choice. */
  endings: string[];
}

export interface SimAnswerKey {
  task: EvalTask;
  path: string;
}

/** Log-probabilities the sim gives per character of the continuation it prefers and of the others. */
const PREFERRED_LOGPROB_PER_CHAR = -0.05;
const OTHER_LOGPROB_PER_CHAR = -2;

export class SimEvalOracle {
  private readonly byStem = new Map<string, KnownItem>();
  private readonly byTail = new Map<string, Array<{ known: KnownItem; choice: number }>>();

  constructor(private readonly seed: number, items: readonly EvalItem[]) {
    for (const item of items) {
      const endings = item.task === 'gsm8k' ? [] : item.choices.map((_, c) => `${item.contexts![c]}${continuationOf(item, c)}`);
      const known = { item, endings };
      this.byStem.set(stemKey(item.question), known);
      endings.forEach((ending, choice) => {
        const key = tailKey(ending);
        const list = this.byTail.get(key) ?? [];
        list.push({ known, choice });
        this.byTail.set(key, list);
      });
    }
  }

  static fromFiles(seed: number, keys: readonly SimAnswerKey[]): SimEvalOracle {
    return new SimEvalOracle(seed, keys.flatMap((key) => readEvalFile(key.path, key.task)));
  }

  get size(): number {
    return this.byStem.size;
  }

  /** The choice index (or GSM8K number) the model settles on for this item. */
  private decide(model: SimModelProfile, item: EvalItem): { choice?: number; number?: string } {
    const rng = createRng(this.seed, 'eval', model.name, item.task, item.id);
    const accuracy = model.quality[QUALITY_COLUMN[item.task]];
    if (item.task === 'gsm8k') {
      const correct = rng.next() < (accuracy ?? 0);
      return { number: correct ? item.target! : String(Number(item.target) + 1 + rng.int(9)) };
    }
    const wrong = item.choices.map((_, i) => i).filter((i) => !item.gold.includes(i));
    if (accuracy === undefined || wrong.length === 0) return { choice: rng.int(item.choices.length) };
    const correct = rng.next() < accuracy;
    const pool = correct ? item.gold : wrong;
    return { choice: pool[rng.int(pool.length)]! };
  }

  /** A chat reply for a prompt whose last "Question:" block is a known item, else undefined. */
  answerChat(model: SimModelProfile, prompt: string): string | undefined {
    const at = prompt.lastIndexOf('Question: ');
    if (at < 0) return undefined;
    const rest = prompt.slice(at + 'Question: '.length);
    const end = [rest.indexOf('\nA. '), rest.indexOf('\nAnswer:')].filter((i) => i >= 0);
    if (end.length === 0) return undefined;
    const known = this.byStem.get(stemKey(rest.slice(0, Math.min(...end))));
    if (!known) return undefined;
    const decision = this.decide(model, known.item);
    if (decision.number !== undefined) return `Let me work it out step by step. The result is ${decision.number}.\n#### ${decision.number}`;
    return LETTERS[decision.choice!]!;
  }

  /**
   * Per-token log-probabilities of a prompt for `echo` + `logprobs`: tokens are whitespace-led
   * words (offsets into the prompt); a prompt that ends with a known item's choice gets its
   * continuation scored so the decided choice wins. The first token has no logprob (null), as in vLLM.
   */
  promptLogprobs(model: SimModelProfile, prompt: string): { tokens: string[]; offsets: number[]; logprobs: Array<number | null> } {
    const tokens: string[] = [];
    const offsets: number[] = [];
    for (const match of prompt.matchAll(/\s*\S+|\s+$/g)) {
      tokens.push(match[0]);
      offsets.push(match.index);
    }
    const logprobs: Array<number | null> = tokens.map((t, i) => (i === 0 ? null : -1 - (t.length % 3) / 2));
    const hit = (this.byTail.get(tailKey(prompt)) ?? []).find((c) => prompt.endsWith(c.known.endings[c.choice]!));
    if (hit) {
      const { item } = hit.known;
      const start = prompt.length - continuationOf(item, hit.choice).length;
      const decided = this.decide(model, item).choice;
      const perChar = decided === hit.choice ? PREFERRED_LOGPROB_PER_CHAR : OTHER_LOGPROB_PER_CHAR;
      tokens.forEach((token, i) => {
        if (i > 0 && offsets[i]! >= start) logprobs[i] = perChar * token.length;
      });
    }
    return { tokens, offsets, logprobs };
  }
}

/** What a log-likelihood prompt scores after the context (the harness's rule, written out here on purpose). */
function continuationOf(item: EvalItem, choice: number): string {
  if (item.task === 'mmlu') return ` ${LETTERS[choice]}`;
  if (item.task === 'winogrande') return ` ${item.continuation}`;
  return ` ${item.choices[choice]}`;
}

function stemKey(text: string): string {
  return text.replace(/\s+/g, ' ').trim().toLowerCase();
}

function tailKey(text: string): string {
  return text.slice(-48);
}
