import type { Config } from '../../config/schema.js';
import { FlexiError } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ReplySource } from '../../core/types.js';
import type { Principal } from '../identity/access-control.service.js';
import type { VirtualModelCall, VirtualModelInfo, VirtualModelProvider, VirtualPlan } from '../inference/virtual-models.js';
import type { CollectionService, NamedHits } from './collection.service.js';
import type { CourseActor } from './course-access.js';

/** Characters of a passage shown as a source's excerpt (the model sees the whole passage). */
const EXCERPT_CHARS = 300;
/** The question is searched with at most this much of the user's last message. */
const MAX_QUESTION_CHARS = 4000;

export function actorOf(principal: Principal): CourseActor {
  const label = principal.userId ? `user:${principal.userId}` : principal.apiKeyId ? `key:${principal.apiKeyId}` : 'anonymous';
  return { userId: principal.userId, admin: principal.policy.admin, label };
}

/**
 * `course:<collection>`: a course bot. Plans a question into a request for the collection's chat
 * model with numbered excerpts of the course material, and the sources the answer cites; in
 * strict mode, a question the material does not answer gets the refusal text and asks no model.
 * Only the course's members (and admins) may use it; for everyone else it does not exist.
 */
export class CourseBotProvider implements VirtualModelProvider {
  readonly prefix = 'course';

  constructor(private readonly collections: CollectionService, private readonly courses: Config['courses']) {}

  async list(principal: Principal): Promise<VirtualModelInfo[]> {
    // Listed to the course's members: an admin can use every bot, but a model list with every
    // course of the university helps nobody.
    const visible = await this.collections.access.visible({ ...actorOf(principal), admin: false });
    return visible.map(({ collection }) => ({
      name: `course:${collection.name}`,
      description: collection.description ?? `Course bot of ${collection.groupName}`,
      createdAt: new Date(collection.createdAt),
      capabilities: ['completion'],
    }));
  }

  async plan(name: string, request: ChatRequest, call: VirtualModelCall): Promise<VirtualPlan> {
    const notFound = () => new FlexiError('model_not_found', `The model '${request.model}' does not exist.`, { param: 'model' });
    const { collection } = await this.collections.access.forMember(actorOf(call.principal), name, notFound);
    const question = lastUserText(request.messages);
    if (question === undefined) {
      throw new FlexiError('invalid_request', 'A course bot answers a question: the last message must be the user\'s, with text.', { param: 'messages' });
    }
    const chatModel = collection.chatModel ?? this.courses.default_chat_model;
    if (!chatModel) {
      throw new FlexiError('invalid_request', `The course bot '${request.model}' has no chat model yet: its owners pick one (chat_model), or the operator sets courses.default_chat_model.`, { param: 'model' });
    }
    const found = await this.collections.searchCollection(collection, question.slice(0, MAX_QUESTION_CHARS), collection.topK, call.signal);
    const base = { groupId: collection.groupId };
    if (collection.strictness === 'strict' && !found.relevant) {
      return { ...base, kind: 'answer', content: collection.refusalText ?? this.courses.refusal_text, annotations: { sources: [], refused: true } };
    }
    const messages: ChatMessage[] = [{ role: 'system', content: systemPrompt(collection.instructions, found) }, ...request.messages];
    return {
      ...base, kind: 'generate',
      // Tools and template parameters are the client's business with a real model, not with a course bot.
      request: { model: chatModel, messages, options: request.options, responseFormat: request.responseFormat, keepAliveSeconds: request.keepAliveSeconds },
      annotations: { sources: toSources(found) },
    };
  }
}

/** The text of the last message when it is the user's; undefined otherwise. */
function lastUserText(messages: readonly ChatMessage[]): string | undefined {
  const last = messages.at(-1);
  if (!last || last.role !== 'user') return undefined;
  const text = last.content.trim();
  return text === '' ? undefined : text;
}

function where(hit: NamedHits['hits'][number]): string {
  const parts = [hit.document];
  if (hit.page !== undefined) parts.push(hit.page_end !== undefined ? `pp. ${hit.page}–${hit.page_end}` : `p. ${hit.page}`);
  if (hit.section) parts.push(hit.section);
  return parts.join(', ');
}

/**
 * The lecturers' instructions, then the excerpts, numbered as the sources are. The rules after
 * the instructions keep a bot honest whatever its instructions say: answer from the excerpts,
 * cite them, say so when they do not answer.
 */
export function systemPrompt(instructions: string | null, found: NamedHits): string {
  const head = instructions?.trim() ? `${instructions.trim()}\n\n` : '';
  const rules = [
    'Answer the question using only the numbered excerpts from the course material below.',
    'Cite every statement with the number of its excerpt in square brackets, e.g. [1] or [2][3].',
    'If the excerpts do not contain the answer, say that the course material does not cover it; do not invent an answer.',
    'Answer in the language of the question.',
  ].join(' ');
  const excerpts = found.hits.length === 0
    ? '(No excerpt of the course material matched this question.)'
    : found.hits.map((hit, i) => `[${i + 1}] (${where(hit)})\n${hit.text}`).join('\n\n');
  return `${head}${rules}\n\nExcerpts:\n\n${excerpts}`;
}

function toSources(found: NamedHits): ReplySource[] {
  return found.hits.map((hit, i) => ({
    index: i + 1, document: hit.document,
    ...(hit.page !== undefined ? { page: hit.page } : {}),
    ...(hit.section ? { section: hit.section } : {}),
    excerpt: hit.text.length > EXCERPT_CHARS ? `${hit.text.slice(0, EXCERPT_CHARS).trimEnd()}…` : hit.text,
  }));
}
