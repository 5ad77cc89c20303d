import { describe, expect, it } from 'vitest';
import { parseEvalLines } from './eval-data.js';
import { extractGsm8k, parseLetter } from './eval-prompts.js';
import { meanInterval, scoreGeneration, scoreLoglik, wilsonInterval } from './eval-score.js';

const arc = parseEvalLines('{"id":"x","question":"q","choices":{"text":["a","bbbbbbbbbb","c"],"label":["A","B","C"]},"answerKey":"B"}', 'arc_challenge')[0]!;
const mc2 = parseEvalLines('{"question":"q","mc2_targets":{"choices":["t1","t2","f"],"labels":[1,1,0]}}', 'truthfulqa_mc2')[0]!;
const gsm = parseEvalLines('{"question":"q","answer":"x\\n#### 1,250"}', 'gsm8k')[0]!;

describe('scoring', () => {
  it('takes acc from the summed log-likelihood and acc_norm per character', () => {
    // Choice B is long: highest total loses, highest per character wins.
    const scored = scoreLoglik(arc, [-3, -10, -4], [' a', ' bbbbbbbbbb', ' c']);
    expect(scored.metrics).toEqual({ acc: 0, acc_norm: 1 });
    expect(scored.score).toBe(1);
    expect(scored.predicted).toBe(1);
  });

  it('computes mc2 as the probability mass on the true answers', () => {
    const scored = scoreLoglik(mc2, [Math.log(0.2), Math.log(0.3), Math.log(0.5)], [' t1', ' t2', ' f']);
    expect(scored.score).toBeCloseTo(0.5, 9);
  });

  it('parses letters strictly and counts anything else as wrong', () => {
    expect(parseLetter('B', 4)).toBe(1);
    expect(parseLetter(' (C) because', 4)).toBe(2);
    expect(parseLetter('The answer is D.', 4)).toBe(3);
    expect(parseLetter('Answer: A', 4)).toBe(0);
    expect(parseLetter('<think>hmm A or B</think>B', 4)).toBe(1);
    expect(parseLetter('b', 4)).toBe(1);
    expect(parseLetter('a cat', 4)).toBeUndefined();
    expect(parseLetter('E', 4)).toBeUndefined();
    expect(parseLetter('I think it is B', 4)).toBeUndefined();
    expect(scoreGeneration(arc, 'Maybe')).toEqual({ score: 0, metrics: { acc: 0 }, unparsed: true });
  });

  it('matches GSM8K strictly after "####" and flexibly on the last number', () => {
    expect(extractGsm8k('so 1,250 apples.\n#### 1,250')).toEqual({ strict: '1250', flexible: '1250' });
    expect(scoreGeneration(gsm, 'It is $1,250.').metrics).toEqual({ exact_match_strict: 0, exact_match_flexible: 1 });
    expect(scoreGeneration(gsm, '#### 1250').score).toBe(1);
    expect(scoreGeneration(gsm, 'no idea').unparsed).toBe(true);
  });

  it('gives Wilson intervals that contain the estimate and stay in [0, 1]', () => {
    const ci = wilsonInterval(80, 100);
    expect(ci.low).toBeCloseTo(0.7111, 3);
    expect(ci.high).toBeCloseTo(0.8666, 3);
    expect(wilsonInterval(0, 10).low).toBe(0);
    expect(wilsonInterval(10, 10).high).toBeCloseTo(1, 12);
    const mean = meanInterval([0.2, 0.4, 0.6, 0.8]);
    expect(mean.low).toBeLessThan(0.5);
    expect(mean.high).toBeGreaterThan(0.5);
  });
});
