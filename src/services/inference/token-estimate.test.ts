import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../core/types.js';
import { IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, REQUEST_OVERHEAD_TOKENS, estimateInputTokens } from './token-estimate.js';

const chat = (messages: ChatRequest['messages'], extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'm', messages, options: {}, ...extra });

describe('estimateInputTokens', () => {
  it('counts template overhead per message, so many short messages cost what a node charges for them', () => {
    const messages = Array.from({ length: 2000 }, () => ({ role: 'user' as const, content: 'x' }));
    // Llama 3 charges ~6 tokens per such message (12,001 in all); chars ÷ 4 said 500.
    expect(estimateInputTokens(chat(messages))).toBe(REQUEST_OVERHEAD_TOKENS + 2000 * (MESSAGE_OVERHEAD_TOKENS + 4 + 1));
  });

  it('counts UTF-8 bytes, never fewer than a byte-level tokenizer could make of the text', () => {
    // 'ü' is 2 bytes, '😀' 4: a byte-fallback tokenizer may spend one token per byte.
    expect(estimateInputTokens(chat([{ role: 'user', content: 'ü😀' }]))).toBe(REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS + 4 + 6);
    expect(estimateInputTokens({ model: 'm', prompt: 'abc', system: 'ü', options: {} })).toBe(REQUEST_OVERHEAD_TOKENS + 3 + 2);
    expect(estimateInputTokens({ model: 'm', input: ['ab', 'c'] })).toBe(2 + 2 + 2 + 1);
  });

  it('counts tool definitions, tool calls, images and a JSON schema', () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } } };
    const request = chat(
      [{ role: 'user', content: '', images: ['aGk='] }, { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] }],
      { tools: [{ name: 'f', description: 'd', parameters }], responseFormat: { type: 'json_schema', schema: { type: 'object' } } },
    );
    const expected = REQUEST_OVERHEAD_TOKENS + JSON.stringify({ type: 'object' }).length
      + MESSAGE_OVERHEAD_TOKENS + 4 + IMAGE_TOKENS
      + MESSAGE_OVERHEAD_TOKENS + 9 + MESSAGE_OVERHEAD_TOKENS + 2 + 1 + 2
      + MESSAGE_OVERHEAD_TOKENS + 1 + 1 + JSON.stringify(parameters).length;
    expect(estimateInputTokens(request)).toBe(expected);
  });
});
