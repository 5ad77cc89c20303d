import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../core/types.js';
import type { TemplateRecord } from '../../core/templates.js';
import type { Principal } from '../identity/access-control.service.js';
import type { VirtualModelCall } from '../inference/virtual-models.js';
import { TemplateModels } from './template-models.js';
import type { TemplateService } from './template.service.js';

const TEMPLATE: TemplateRecord = {
  id: 't1', name: 'tutor', groupId: 'g1', version: 3, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
  definition: {
    model: 'tiny', system: 'Tutor for {{topic}}.', user: 'Question: {{input}}',
    parameters: [{ name: 'topic', type: 'string', required: false, default: 'maths' }], sampling: { temperature: 0, maxTokens: 100 },
  },
};
const service = { getUsable: async () => TEMPLATE } as unknown as TemplateService;
const call = { principal: {} as Principal, endpoint: '/v1/chat/completions', signal: new AbortController().signal } satisfies VirtualModelCall;

function request(messages: ChatRequest['messages'], options: ChatRequest['options'] = {}): ChatRequest {
  return { model: 'template:tutor', messages, options, params: { topic: 'statistics' } };
}

describe('TemplateModels.plan', () => {
  it('keeps the conversation, replaces client system messages, fills the last user message and keeps what follows it', async () => {
    const plan = await new TemplateModels(service).plan('tutor', request([
      { role: 'system', content: 'client system' }, { role: 'user', content: 'first' }, { role: 'assistant', content: 'answer' },
      { role: 'user', content: 'second' }, { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] },
      { role: 'tool', content: '42', toolCallId: 'c1' },
    ], { temperature: 0.9, maxTokens: 500, topP: 0.5 }), call);
    expect(plan).toMatchObject({ kind: 'generate', groupId: 'g1' });
    if (plan.kind !== 'generate') throw new Error('not a generate plan');
    expect(plan.request.model).toBe('tiny');
    expect(plan.request.params).toBeUndefined();
    expect(plan.request.options).toEqual({ temperature: 0, maxTokens: 100, topP: 0.5 });
    expect(plan.request.messages).toEqual([
      { role: 'system', content: 'Tutor for statistics.' }, { role: 'user', content: 'first' }, { role: 'assistant', content: 'answer' },
      { role: 'user', content: 'Question: second' }, { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] },
      { role: 'tool', content: '42', toolCallId: 'c1' },
    ]);
  });

  it('lets a client ask for fewer tokens than the template\'s cap', async () => {
    const plan = await new TemplateModels(service).plan('tutor', request([{ role: 'user', content: 'q' }], { maxTokens: 20 }), call);
    expect(plan.kind === 'generate' && plan.request.options.maxTokens).toBe(20);
  });

  it('refuses a call without a user message when the template needs {{input}}, naming messages', async () => {
    await expect(new TemplateModels(service).plan('tutor', request([{ role: 'system', content: 's' }]), call)).rejects.toMatchObject({ status: 400, param: 'messages' });
  });
});
