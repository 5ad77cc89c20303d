import { describe, expect, it } from 'vitest';
import { embedText } from './prng.js';
import { planReply } from './sim-reply.js';
import { TINY } from './profiles.js';

const model = TINY.models[0]!;
const base = { model, seed: 3, promptText: 'user: hello', lastUserText: 'hello' };

describe('planReply', () => {
  it('is deterministic for the same seed and request', () => {
    expect(planReply(base)).toEqual(planReply(base));
    expect(planReply(base).tokens.join('')).not.toBe(planReply({ ...base, seed: 4 }).tokens.join(''));
  });

  it('caps at max tokens with finish reason length', () => {
    const reply = planReply({ ...base, maxTokens: 2 });
    expect(reply.tokens).toHaveLength(2);
    expect(reply.evalCount).toBe(2);
    expect(reply.finishReason).toBe('length');
    expect(planReply({ ...base, maxTokens: 0 }).tokens).toEqual([]);
  });

  it('cuts the text right before the first stop string, even inside a token', () => {
    const full = planReply(base).tokens.join('');
    const stop = full.slice(10, 13);
    const reply = planReply({ ...base, stop: ['zzz-never', stop] });
    expect(reply.tokens.join('')).toBe(full.slice(0, full.indexOf(stop)));
    expect(reply.finishReason).toBe('stop');
  });

  it('emits valid JSON in JSON mode and fills a schema\'s properties by type', () => {
    expect(JSON.parse(planReply({ ...base, json: true }).tokens.join(''))).toHaveProperty('answer');
    const schema = { type: 'object', properties: { city: { type: 'string' }, n: { type: 'integer' }, ok: { type: 'boolean' }, kind: { enum: ['a', 'b'] } } };
    expect(JSON.parse(planReply({ ...base, json: schema }).tokens.join(''))).toEqual({ city: 'Hagen', n: expect.any(Number), ok: true, kind: 'a' });
  });

  it('calls the first tool for weather questions, a named tool when chosen, none with tool_choice none', () => {
    const tools = [{ name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } }, { name: 'other' }];
    expect(planReply({ ...base, lastUserText: 'How is the weather?', tools }).toolCall).toEqual({ name: 'get_weather', arguments: { location: 'Hagen' } });
    expect(planReply({ ...base, tools }).toolCall).toBeUndefined();
    expect(planReply({ ...base, tools, toolChoice: 'other' }).toolCall?.name).toBe('other');
    expect(planReply({ ...base, lastUserText: 'weather', tools, toolChoice: 'none' }).toolCall).toBeUndefined();
    expect(planReply({ ...base, tools, toolChoice: 'required' }).finishReason).toBe('tool_calls');
  });
});

describe('embedText', () => {
  it('returns deterministic unit vectors of the requested dimension', () => {
    const a = embedText(1, 'm', 'text', 64);
    expect(a).toHaveLength(64);
    expect(Math.hypot(...a)).toBeCloseTo(1, 5);
    expect(embedText(1, 'm', 'text', 64)).toEqual(a);
    expect(embedText(2, 'm', 'text', 64)).not.toEqual(a);
  });
});
