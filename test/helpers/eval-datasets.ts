/**
 * Synthetic benchmark files in the real datasets' formats (seeded nonsense items with known
 * answers), large enough for `flexi eval` against `flexi sim` to estimate accuracies with tight
 * intervals. The sim knows their answers because it is given the same files.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalTask } from '../../src/lab/eval/eval-data.js';
import { seededRandom } from '../../src/lib/random.js';

const WORDS = 'river stone lamp cloud seed paper window garden engine bridge candle mirror forest ladder harbor pencil valley'.split(' ');

function phrase(random: () => number, n: number): string {
  return Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]!).join(' ');
}

function row(task: EvalTask, i: number, random: () => number): Record<string, unknown> {
  const q = `Item ${i}: which ${phrase(random, 4)}?`;
  const choices = Array.from({ length: 4 }, (_, c) => `${phrase(random, 2)} ${i}-${c}`);
  const gold = Math.floor(random() * 4);
  switch (task) {
    case 'arc_easy':
    case 'arc_challenge':
      return { id: `syn-${i}`, question: q, choices: { text: choices, label: ['A', 'B', 'C', 'D'] }, answerKey: 'ABCD'[gold] };
    case 'hellaswag':
      return { ind: i, activity_label: `Task ${i}`, ctx_a: `Someone ${phrase(random, 5)} ${i}.`, ctx_b: 'they', endings: choices, label: String(gold) };
    case 'mmlu':
      return { question: q, subject: 'synthetic', choices, answer: gold };
    case 'truthfulqa_mc1':
    case 'truthfulqa_mc2': {
      const labels1 = choices.map((_, c) => (c === gold ? 1 : 0));
      const second = (gold + 1) % 4;
      const labels2 = choices.map((_, c) => (c === gold || c === second ? 1 : 0));
      return { question: q, mc1_targets: { choices, labels: labels1 }, mc2_targets: { choices, labels: labels2 } };
    }
    case 'winogrande': {
      const a = `${phrase(random, 1)}${i}a`;
      const b = `${phrase(random, 1)}${i}b`;
      return { qID: `syn-${i}`, sentence: `The ${a} and the ${b} met, and the _ left ${phrase(random, 3)} ${i}.`, option1: a, option2: b, answer: String(1 + (gold % 2)) };
    }
    case 'gsm8k': {
      const x = 2 + Math.floor(random() * 50);
      const y = 2 + Math.floor(random() * 50);
      return { question: `Item ${i}: a ${phrase(random, 2)} holds ${x} and gets ${y} more. How many now?`, answer: `${x} + ${y} = ${x + y}\n#### ${x + y}` };
    }
  }
}

/** Writes `n` items of `task` to `<dir>/<task>.jsonl` and returns the path. */
export function writeSyntheticEvalData(dir: string, task: EvalTask, n: number, seed = 7): string {
  const random = seededRandom(seed + task.length * 1000 + task.charCodeAt(0));
  const path = join(dir, `${task}.jsonl`);
  writeFileSync(path, `${Array.from({ length: n }, (_, i) => JSON.stringify(row(task, i + 1, random))).join('\n')}\n`);
  return path;
}
