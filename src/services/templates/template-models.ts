import { invalidRequest } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, SamplingOptions } from '../../core/types.js';
import type { TemplateRecord } from '../../core/templates.js';
import type { Principal } from '../identity/access-control.service.js';
import type { VirtualModelCall, VirtualModelInfo, VirtualModelProvider, VirtualPlan } from '../inference/virtual-models.js';
import { fillText, INPUT, placeholdersOf, resolveParameters } from './template-text.js';
import type { TemplateService } from './template.service.js';

/**
 * `template:<name>`: a stored prompt with parameters, as a model any client can select. The plan
 * replaces the conversation's last user message with the template's user text (its `{{input}}`
 * is that message), puts the template's system text first, and runs the template's model with
 * the template's sampling settings where it sets them.
 */
export class TemplateModels implements VirtualModelProvider {
  readonly prefix = 'template';

  constructor(private readonly templates: TemplateService) {}

  async list(principal: Principal): Promise<VirtualModelInfo[]> {
    return (await this.templates.usable(principal)).map((template) => ({
      name: `template:${template.name}`,
      description: template.definition.description,
      createdAt: new Date(template.createdAt),
    }));
  }

  async plan(name: string, request: ChatRequest, call: VirtualModelCall): Promise<VirtualPlan> {
    const template = await this.templates.getUsable(call.principal, name);
    const values = resolveParameters(template.definition.parameters, request.params);
    const { definition } = template;
    const lastUser = findLastIndex(request.messages, (message) => message.role === 'user');
    const usesInput = placeholdersOf(`${definition.system ?? ''}\n${definition.user}`).includes(INPUT);
    if (usesInput && lastUser < 0) {
      throw invalidRequest('messages', `The template '${name}' fills {{input}} from your message: send one user message (or a prompt).`);
    }
    values.set(INPUT, lastUser >= 0 ? request.messages[lastUser]!.content : '');
    // The template's system text replaces the client's; without one the client's stays.
    const keep = (message: ChatMessage) => definition.system === undefined || message.role !== 'system';
    const before = lastUser >= 0 ? request.messages.slice(0, lastUser) : request.messages;
    // What follows the last user message (a tool call and its result) stays after it.
    const after = lastUser >= 0 ? request.messages.slice(lastUser + 1) : [];
    const messages: ChatMessage[] = [];
    if (definition.system !== undefined) messages.push({ role: 'system', content: fillText(definition.system, values) });
    messages.push(
      ...before.filter(keep),
      { role: 'user', content: fillText(definition.user, values), images: lastUser >= 0 ? request.messages[lastUser]!.images : undefined },
      ...after.filter(keep),
    );
    const planned: ChatRequest = {
      ...request,
      model: definition.model,
      messages: messages.map(dropEmptyImages),
      options: withSampling(request.options, template),
      params: undefined,
    };
    return { kind: 'generate', request: planned, groupId: template.groupId ?? undefined };
  }
}

function withSampling(options: SamplingOptions, template: TemplateRecord): SamplingOptions {
  const { sampling } = template.definition;
  return {
    ...options,
    ...(sampling.temperature === undefined ? {} : { temperature: sampling.temperature }),
    ...(sampling.topP === undefined ? {} : { topP: sampling.topP }),
    // The template's cap binds; a client may ask for less, never more.
    ...(sampling.maxTokens === undefined ? {} : { maxTokens: Math.min(sampling.maxTokens, options.maxTokens ?? sampling.maxTokens) }),
  };
}

function dropEmptyImages(message: ChatMessage): ChatMessage {
  if (message.images !== undefined && message.images.length > 0) return message;
  const { images: _images, ...rest } = message;
  return rest;
}

function findLastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i -= 1) if (test(items[i]!)) return i;
  return -1;
}
