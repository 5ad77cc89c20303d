import { LETTERS, normalizeNumber, type EvalItem } from './eval-data.js';

/**
 * Prompts for the two methods. Log-likelihood prompts follow lm-evaluation-harness (reference
 * §4.1): a context and one continuation per choice, few-shot examples before it separated by a
 * blank line. Generation prompts list the choices with letters and ask for the letter; GSM8K
 * uses the harness's "Question: …\nAnswer:" form (§4.2).
 */

export interface LoglikRequest {
  context: string;
  continuation: string;
}

/** The harness's `target_delimiter` between context and continuation. */
const DELIMITER = ' ';

function loglikPair(item: EvalItem, choice: number): LoglikRequest {
  if (item.task === 'winogrande') return { context: item.contexts![choice]!, continuation: `${DELIMITER}${item.continuation}` };
  const answer = item.task === 'mmlu' ? LETTERS[choice]! : item.choices[choice]!;
  return { context: item.contexts![choice]!, continuation: `${DELIMITER}${answer}` };
}

function mmluHeader(item: EvalItem): string {
  const subject = item.subject ? ` about ${item.subject.replace(/_/g, ' ')}` : '';
  return `The following are multiple choice questions (with answers)${subject}.\n\n`;
}

/** One context + continuation per choice; `shots` are solved examples put before the context. */
export function loglikRequests(item: EvalItem, shots: readonly EvalItem[]): LoglikRequest[] {
  // TruthfulQA is 0-shot with its fixed preamble (already in the context).
  const examples = item.task.startsWith('truthfulqa') ? [] : shots;
  const prefix = examples.map((shot) => {
    const pair = loglikPair(shot, shot.gold[0]!);
    return `${pair.context}${pair.continuation}\n\n`;
  }).join('');
  const header = item.task === 'mmlu' ? mmluHeader(item) : '';
  return item.choices.map((_, i) => {
    const pair = loglikPair(item, i);
    return { context: `${header}${prefix}${pair.context}`, continuation: pair.continuation };
  });
}

function listed(item: EvalItem): string {
  return `Question: ${item.question}\n${item.choices.map((c, i) => `${LETTERS[i]}. ${c}`).join('\n')}\nAnswer:`;
}

export const LETTER_INSTRUCTION = 'Answer with the letter of the correct choice only.';

/** Generation prompt: lettered choices, the answer is one letter (GSM8K: worked answer ending "#### n"). */
export function generationPrompt(item: EvalItem, shots: readonly EvalItem[]): string {
  if (item.task === 'gsm8k') {
    const prefix = shots.map((shot) => `Question: ${shot.question}\nAnswer: ${shot.solution}\n\n`).join('');
    return `${prefix}Question: ${item.question}\nAnswer:`;
  }
  const prefix = shots.map((shot) => `${listed(shot)} ${LETTERS[shot.gold[0]!]}\n\n`).join('');
  return `${LETTER_INSTRUCTION}\n\n${prefix}${listed(item)}`;
}

/** Stop strings of GSM8K generation (harness `until`). */
export const GSM8K_STOP = ['Question:', '</s>', '<|im_end|>'];

/**
 * Strict letter parsing: the reply must start with the letter (optionally "(B)", "B.", "B)",
 * "Answer: B" or "The answer is B"); anything else is unparsed and counted wrong.
 */
export function parseLetter(reply: string, choices: number): number | undefined {
  const text = reply.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  const match = /^(?:(?:the\s+)?(?:best\s+|correct\s+)?answer\s*(?:is)?\s*:?\s*)?\(?([A-Za-z])\)?(?![A-Za-z])/i.exec(text);
  if (!match) return undefined;
  const letter = match[1]!;
  // A lowercase single letter is accepted only when it is the whole answer ("b", "b."), not the word "a".
  if (letter !== letter.toUpperCase() && !/^\(?[a-z]\)?[.)]?$/.test(text)) return undefined;
  const index = LETTERS.indexOf(letter.toUpperCase());
  return index >= 0 && index < choices ? index : undefined;
}

/** GSM8K answer extraction under the harness's two filters (strict-match and flexible-extract). */
export function extractGsm8k(reply: string): { strict?: string; flexible?: string } {
  const strict = /#### (-?[0-9.,]+)/.exec(reply)?.[1];
  const numbers = [...reply.matchAll(/(-?[$0-9.,]{2,})|(-?[0-9]+)/g)].map((m) => m[0]);
  const flexible = numbers.length > 0 ? numbers[numbers.length - 1] : undefined;
  return {
    strict: strict === undefined ? undefined : normalizeNumber(strict),
    flexible: flexible === undefined ? undefined : normalizeNumber(flexible),
  };
}
