import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from '../api/openai.js';
import type { ChatEvent } from '../core/types.js';
import { OpenAiChatStreamEncoder } from './openai-stream.js';

function frames(text: string): (ChatCompletionChunk | '[DONE]')[] {
  return text.split('\n\n').filter((line) => line.startsWith('data: ')).map((line) => {
    const data = line.slice('data: '.length);
    return data === '[DONE]' ? '[DONE]' : (JSON.parse(data) as ChatCompletionChunk);
  });
}

const done = (annotations?: Extract<ChatEvent, { type: 'done' }>['annotations']): ChatEvent => ({
  type: 'done', finishReason: 'stop', usage: { promptTokens: 5, completionTokens: 2 }, timings: {}, annotations,
});

describe('OpenAiChatStreamEncoder', () => {
  it('puts a course bot\'s sources on one last chunk with no choices before [DONE], after the usage chunk', () => {
    const encoder = new OpenAiChatStreamEncoder('chatcmpl-1', 1, 'course:algebra', true);
    const text = encoder.encode({ type: 'delta', content: 'Am 1. Juni [1].' })
      + encoder.encode(done({ sources: [{ index: 1, document: 'skript.pdf', page: 4, section: 'Prüfungen', excerpt: 'Anmeldung bis 1. Juni' }] }));
    const out = frames(text);
    expect(out.at(-1)).toBe('[DONE]');
    const usage = out.at(-3) as ChatCompletionChunk;
    expect(usage.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    const last = out.at(-2) as ChatCompletionChunk;
    expect(last.choices).toEqual([]);
    expect(last.id).toBe('chatcmpl-1');
    expect(last.sources).toEqual([{ index: 1, document: 'skript.pdf', page: 4, section: 'Prüfungen', excerpt: 'Anmeldung bis 1. Juni' }]);
    expect(last.refused).toBeUndefined();
  });

  it('marks a refusal with empty sources, and writes no extra chunk for a plain model', () => {
    const refusal = new OpenAiChatStreamEncoder('chatcmpl-2', 1, 'course:algebra', false);
    const out = frames(refusal.encode({ type: 'delta', content: 'Dazu steht nichts im Material.' }) + refusal.encode(done({ sources: [], refused: true })));
    expect(out.at(-2)).toMatchObject({ choices: [], sources: [], refused: true });
    const plain = new OpenAiChatStreamEncoder('chatcmpl-3', 1, 'tiny', false);
    const plainOut = frames(plain.encode({ type: 'delta', content: 'x' }) + plain.encode(done()));
    expect(plainOut.every((frame) => frame === '[DONE]' || !('sources' in frame))).toBe(true);
    expect(plainOut).toHaveLength(3);
  });
});
