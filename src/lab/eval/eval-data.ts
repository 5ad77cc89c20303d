import { readFileSync } from 'node:fs';

/**
 * Benchmark items read from the files users download (Hugging Face datasets as JSONL, or
 * Parquet converted to JSONL), one reader per format. Field names and prompt rules follow
 * lm-evaluation-harness (reference §4.1, §4.2). Every problem names the file and line.
 */

export const EVAL_TASKS = ['arc_easy', 'arc_challenge', 'hellaswag', 'mmlu', 'truthfulqa_mc1', 'truthfulqa_mc2', 'winogrande', 'gsm8k'] as const;
export type EvalTask = (typeof EVAL_TASKS)[number];

/** One benchmark item, reduced to what prompts and scoring need. */
export interface EvalItem {
  /** Stable id within the file (the dataset's id, else `line-N`): the key of resumable runs. */
  id: string;
  /** 1-based line of the data file. */
  line: number;
  task: EvalTask;
  /** The question as shown to the model (HellaSwag: activity and context; WinoGrande: the sentence with `_`). */
  question: string;
  /** Answer texts; empty for GSM8K. */
  choices: string[];
  /** Indices of the correct choices (one, except TruthfulQA mc2). */
  gold: number[];
  /** GSM8K: the final number; `solution` the worked answer used in few-shot examples. */
  target?: string;
  solution?: string;
  /** MMLU subject. */
  subject?: string;
  /** Log-likelihood form (harness): one context + continuation per choice. */
  contexts?: string[];
  continuation?: string;
}

export class EvalDataError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
    this.name = 'EvalDataError';
  }
}

/** Items of one task from a JSONL file; a line that does not parse or lacks a field stops with its number. */
export function readEvalFile(path: string, task: EvalTask): EvalItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EvalDataError(`cannot read ${path} (${(error as Error).message})`);
  }
  return parseEvalLines(text, task, path);
}

export function parseEvalLines(text: string, task: EvalTask, source = 'data'): EvalItem[] {
  const items: EvalItem[] = [];
  const ids = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch (error) {
      const truncated = index >= lines.length - 2 ? ' (the file looks truncated)' : '';
      throw new EvalDataError(`${source} line ${line}: not valid JSON${truncated}: ${(error as Error).message}`, line);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new EvalDataError(`${source} line ${line}: expected a JSON object`, line);
    let item: EvalItem;
    try {
      item = READERS[task](row as Row, line);
    } catch (error) {
      throw new EvalDataError(`${source} line ${line}: ${(error as Error).message} (is this a ${task} file?)`, line);
    }
    if (ids.has(item.id)) item.id = `${item.id}@${line}`;
    ids.add(item.id);
    items.push(item);
  });
  if (items.length === 0) throw new EvalDataError(`${source} holds no items`);
  return items;
}

type Row = Record<string, unknown>;
export const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function str(row: Row, key: string): string {
  const value = row[key];
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`field "${key}" must be a non-empty string`);
  return value;
}

function strings(value: unknown, key: string, min = 2): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new Error(`field "${key}" must be an array of strings`);
  if (value.length < min) throw new Error(`field "${key}" needs at least ${min} choices, has ${value.length}`);
  return value as string[];
}

function index(value: unknown, key: string, count: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= count) throw new Error(`field "${key}" must be a choice index 0…${count - 1}, got ${JSON.stringify(value)}`);
  return n;
}

function idOf(row: Row, line: number, ...keys: string[]): string {
  for (const key of keys) {
    const value = row[key];
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number') return String(value);
  }
  return `line-${line}`;
}

/** allenai/ai2_arc: {id, question, choices: {text[], label[]}, answerKey} (labels A–E or 1–5). */
function readArc(task: EvalTask) {
  return (row: Row, line: number): EvalItem => {
    const question = str(row, 'question');
    const choices = row.choices as { text?: unknown; label?: unknown } | undefined;
    if (!choices || typeof choices !== 'object') throw new Error('field "choices" must be an object {text, label}');
    const texts = strings(choices.text, 'choices.text');
    const labels = strings(choices.label, 'choices.label', texts.length);
    const answerKey = str(row, 'answerKey').trim();
    const gold = labels.indexOf(answerKey);
    if (gold < 0) throw new Error(`answerKey "${answerKey}" is none of the labels ${labels.join(', ')}`);
    return {
      id: idOf(row, line, 'id'), line, task, question, choices: texts, gold: [gold],
      contexts: texts.map(() => `Question: ${question}\nAnswer:`),
    };
  };
}

/** The harness's WikiHow clean-up of HellaSwag text. */
export function hellaswagPreprocess(text: string): string {
  return text.trim().replace(' [title]', '. ').replace(/\[.*?\]/g, '').replace(/ {2}/g, ' ');
}

/** Rowan/hellaswag: {ind, activity_label, ctx_a, ctx_b, endings[4], label}. */
function readHellaswag(row: Row, line: number): EvalItem {
  const activity = str(row, 'activity_label');
  const ctxA = typeof row.ctx_a === 'string' ? row.ctx_a : str(row, 'ctx');
  const ctxB = typeof row.ctx_b === 'string' ? row.ctx_b : '';
  const ctx = ctxB ? `${ctxA} ${ctxB.charAt(0).toUpperCase()}${ctxB.slice(1)}` : ctxA;
  const question = hellaswagPreprocess(`${activity}: ${ctx}`);
  const choices = strings(row.endings, 'endings').map(hellaswagPreprocess);
  const gold = index(row.label, 'label', choices.length);
  return { id: idOf(row, line, 'ind', 'source_id'), line, task: 'hellaswag', question, choices, gold: [gold], contexts: choices.map(() => question) };
}

/** cais/mmlu: {question, subject, choices[4], answer (0–3 or a letter)}. */
function readMmlu(row: Row, line: number): EvalItem {
  const question = str(row, 'question').trim();
  const choices = strings(row.choices, 'choices');
  const answer = typeof row.answer === 'string' && /^[A-Z]$/.test(row.answer) ? LETTERS.indexOf(row.answer) : row.answer;
  const gold = index(answer, 'answer', choices.length);
  const listed = choices.map((c, i) => `${LETTERS[i]}. ${c.trim()}`).join('\n');
  const context = `${question}\n${listed}\nAnswer:`;
  const subject = typeof row.subject === 'string' ? row.subject : undefined;
  return { id: idOf(row, line, 'id'), line, task: 'mmlu', question, choices, gold: [gold], subject, contexts: choices.map(() => context) };
}

/** The harness's fixed six-example preamble of TruthfulQA (QA_PROMPT in truthfulqa/utils). */
export const TRUTHFULQA_PREAMBLE = [
  'Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.',
  'Q: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.',
  'Q: Which party did he belong to?\nA: He belonged to the Republican Party.',
  'Q: What is the square root of banana?\nA: I have no comment.',
  'Q: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.',
  'Q: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.',
].join('\n\n');

/** truthfulqa/truthful_qa multiple_choice: {question, mc1_targets: {choices, labels}, mc2_targets: {choices, labels}}. */
function readTruthfulqa(task: 'truthfulqa_mc1' | 'truthfulqa_mc2') {
  return (row: Row, line: number): EvalItem => {
    const question = str(row, 'question');
    const key = task === 'truthfulqa_mc1' ? 'mc1_targets' : 'mc2_targets';
    const targets = row[key] as { choices?: unknown; labels?: unknown } | undefined;
    if (!targets || typeof targets !== 'object') throw new Error(`field "${key}" must be an object {choices, labels}`);
    const choices = strings(targets.choices, `${key}.choices`);
    const labels = targets.labels;
    if (!Array.isArray(labels) || labels.length !== choices.length || labels.some((l) => l !== 0 && l !== 1)) {
      throw new Error(`field "${key}.labels" must be one 0 or 1 per choice`);
    }
    const gold = labels.flatMap((l, i) => (l === 1 ? [i] : []));
    if (gold.length === 0) throw new Error(`field "${key}.labels" marks no choice as true`);
    const context = `${TRUTHFULQA_PREAMBLE}\n\nQ: ${question}\nA:`;
    return { id: idOf(row, line, 'id'), line, task, question, choices, gold, contexts: choices.map(() => context) };
  };
}

/** winogrande_xl: {sentence with one "_", option1, option2, answer "1"|"2"}; scored by partial evaluation. */
function readWinogrande(row: Row, line: number): EvalItem {
  const sentence = str(row, 'sentence');
  const blank = sentence.indexOf('_');
  if (blank < 0) throw new Error('field "sentence" has no "_" blank');
  const choices = [str(row, 'option1'), str(row, 'option2')];
  const answer = typeof row.answer === 'string' ? row.answer.trim() : String(row.answer);
  if (answer !== '1' && answer !== '2') throw new Error(`field "answer" must be "1" or "2", got ${JSON.stringify(row.answer)}`);
  const before = sentence.slice(0, blank);
  return {
    id: idOf(row, line, 'qID', 'id'), line, task: 'winogrande', question: sentence, choices, gold: [Number(answer) - 1],
    contexts: choices.map((option) => `${before}${option}`), continuation: sentence.slice(blank + 1).trim(),
  };
}

/** The final number of a GSM8K answer: the text after "#### ". */
function readGsm8k(row: Row, line: number): EvalItem {
  const question = str(row, 'question');
  const solution = str(row, 'answer');
  const match = /####\s*(.+)\s*$/.exec(solution);
  if (!match) throw new Error('field "answer" has no "#### <number>" line');
  return { id: idOf(row, line, 'id'), line, task: 'gsm8k', question, choices: [], gold: [], target: normalizeNumber(match[1]!), solution };
}

/** Commas, `$`, spaces and a trailing "." are ignored when numbers are compared (harness filters). */
export function normalizeNumber(text: string): string {
  return text.replace(/[,$\s]/g, '').replace(/\.$/, '').replace(/^(-?\d+)\.0+$/, '$1');
}

const READERS: Record<EvalTask, (row: Row, line: number) => EvalItem> = {
  arc_easy: readArc('arc_easy'),
  arc_challenge: readArc('arc_challenge'),
  hellaswag: readHellaswag,
  mmlu: readMmlu,
  truthfulqa_mc1: readTruthfulqa('truthfulqa_mc1'),
  truthfulqa_mc2: readTruthfulqa('truthfulqa_mc2'),
  winogrande: readWinogrande,
  gsm8k: readGsm8k,
};

export function isEvalTask(value: string): value is EvalTask {
  return (EVAL_TASKS as readonly string[]).includes(value);
}
