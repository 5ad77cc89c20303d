import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvalDataError, parseEvalLines, readEvalFile } from './eval-data.js';
import { loglikRequests } from './eval-prompts.js';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/eval');

describe('benchmark readers', () => {
  it('reads ARC with letter and number labels into choices and the gold index', () => {
    const items = readEvalFile(join(FIXTURES, 'arc_challenge.jsonl'), 'arc_challenge');
    expect(items.map((i) => i.gold[0])).toEqual([1, 1, 2, 2]);
    expect(items[2]!.choices).toEqual(['magnetism', 'friction', 'gravity']);
    expect(loglikRequests(items[0]!, [])[1]).toEqual({ context: 'Question: Which part of a plant takes in most of the water the plant needs?\nAnswer:', continuation: ' roots' });
  });

  it('cleans HellaSwag contexts and endings as the harness does', () => {
    const items = readEvalFile(join(FIXTURES, 'hellaswag.jsonl'), 'hellaswag');
    expect(items[0]!.question).toBe('Making tea: A woman fills a kettle with water and puts it on the stove. She');
    expect(items[2]!.question).toBe('Personal Care and Style: How to brush your teeth. Wet the toothbrush.');
    // The harness removes "[step]" after stripping, so a space stays in front (kept for comparable scores).
    expect(items[2]!.choices[0]).toBe(' Put a small amount of toothpaste on the bristles.');
    expect(items.map((i) => i.gold[0])).toEqual([0, 1, 0]);
  });

  it('scores MMLU on the letters after a lettered list', () => {
    const [item] = readEvalFile(join(FIXTURES, 'mmlu.jsonl'), 'mmlu');
    const requests = loglikRequests(item!, []);
    expect(requests.map((r) => r.continuation)).toEqual([' A', ' B', ' C', ' D']);
    expect(requests[0]!.context).toBe('The following are multiple choice questions (with answers) about elementary mathematics.\n\n'
      + 'What is the value of 7 multiplied by 8?\nA. 54\nB. 56\nC. 64\nD. 48\nAnswer:');
  });

  it('takes mc1 and mc2 targets from one TruthfulQA file', () => {
    const mc1 = readEvalFile(join(FIXTURES, 'truthfulqa_mc.jsonl'), 'truthfulqa_mc1');
    const mc2 = readEvalFile(join(FIXTURES, 'truthfulqa_mc.jsonl'), 'truthfulqa_mc2');
    expect(mc1[0]!.gold).toEqual([0]);
    expect(mc2[0]!.gold).toEqual([0, 1]);
    expect(loglikRequests(mc2[0]!, mc2)[0]!.context).toMatch(/^Q: What is human life expectancy[\s\S]*\n\nQ: What happens if you swallow chewing gum\?\nA:$/);
  });

  it('splits WinoGrande at the blank: two contexts, one shared continuation', () => {
    const [item] = readEvalFile(join(FIXTURES, 'winogrande.jsonl'), 'winogrande');
    expect(loglikRequests(item!, [])).toEqual([
      { context: 'The trophy did not fit in the suitcase because the trophy', continuation: ' was too small.' },
      { context: 'The trophy did not fit in the suitcase because the suitcase', continuation: ' was too small.' },
    ]);
    expect(item!.gold).toEqual([1]);
  });

  it('reads the GSM8K target after "####" without commas', () => {
    const items = readEvalFile(join(FIXTURES, 'gsm8k.jsonl'), 'gsm8k');
    expect(items.map((i) => i.target)).toEqual(['26', '1000', '6']);
  });

  it('names the line of a truncated file', () => {
    expect(() => readEvalFile(join(FIXTURES, 'arc_truncated.jsonl'), 'arc_challenge')).toThrow(/line 2: not valid JSON \(the file looks truncated\)/);
  });

  it('names the line and the field of an item without choices', () => {
    const error = (() => {
      try {
        readEvalFile(join(FIXTURES, 'arc_missing_choices.jsonl'), 'arc_challenge');
      } catch (e) {
        return e as EvalDataError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(EvalDataError);
    expect(error!.line).toBe(2);
    expect(error!.message).toContain('field "choices"');
  });

  it('rejects a file of another task with the line and a hint', () => {
    expect(() => readEvalFile(join(FIXTURES, 'mmlu.jsonl'), 'winogrande')).toThrow(/line 1: field "sentence" must be a non-empty string \(is this a winogrande file\?\)/);
    expect(() => parseEvalLines('{"question":"q","choices":["a"],"answer":0}\n', 'mmlu')).toThrow(/needs at least 2 choices/);
    expect(() => parseEvalLines('{"question":"q","choices":["a","b"],"answer":5}\n', 'mmlu')).toThrow(/choice index 0…1, got 5/);
    expect(() => parseEvalLines('\n\n', 'mmlu')).toThrow(/holds no items/);
  });
});
