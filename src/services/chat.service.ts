import type { ChatExport, FinishReason, UiChat, UiChatMessage, UiChatSummary } from '../api/ui.js';
import { FlexiError } from '../core/errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { ChatMessageRecord, ChatRecord, ChatRepository, NewChatMessage } from '../store/chat.repository.js';
import { toTimestamp } from '../store/database.js';

/** What a chat's owner sets when creating or changing a chat; fields left out stay as they are. */
export type ChatSettings = Partial<Pick<ChatRecord, 'title' | 'model' | 'systemPrompt' | 'temperature'>>;

export const CHAT_LIST_LIMIT = 500;
const TITLE_FROM_MESSAGE_CHARS = 60;
const MAX_SEARCH_CHARS = 200;

export type ExportFormat = 'json' | 'markdown';

export function toUiChatSummary(chat: ChatRecord): UiChatSummary {
  return {
    id: chat.id, title: chat.title, model: chat.model, system_prompt: chat.systemPrompt, temperature: chat.temperature,
    created_at: chat.createdAt, updated_at: chat.updatedAt,
  };
}

export function toUiChatMessage(message: ChatMessageRecord): UiChatMessage {
  return {
    id: message.id, role: message.role, content: message.content, model: message.model,
    finish: message.finish as FinishReason | null, created_at: message.createdAt,
  };
}

/** A title from the first words of a message: one line, at most 60 characters. */
export function titleFromMessage(content: string): string {
  const line = content.replace(/\s+/g, ' ').trim();
  if (line.length <= TITLE_FROM_MESSAGE_CHARS) return line;
  const cut = line.slice(0, TITLE_FROM_MESSAGE_CHARS);
  const space = cut.lastIndexOf(' ');
  return `${space > 30 ? cut.slice(0, space) : cut}…`;
}

/** One chat as Markdown: title, settings, then the turns under `### You` / `### Assistant (model)`. */
export function chatToMarkdown(chat: UiChat): string {
  const lines = [`# ${chat.title || 'Chat'}`, ''];
  lines.push(`- Created: ${chat.created_at}`, `- Updated: ${chat.updated_at}`);
  if (chat.model) lines.push(`- Model: ${chat.model}`);
  if (chat.temperature !== null) lines.push(`- Temperature: ${chat.temperature}`);
  lines.push('');
  if (chat.system_prompt) lines.push('## System prompt', '', chat.system_prompt, '');
  for (const message of chat.messages) {
    const who = message.role === 'user' ? 'You' : `Assistant${message.model ? ` (${message.model})` : ''}`;
    const note = message.finish === 'stopped' ? ' — stopped' : message.finish === 'error' ? ' — failed' : '';
    lines.push(`### ${who}${note}`, '', message.content, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/**
 * A user's web chats: list and search, create, change, delete, export, append turns. The
 * browser generates answers through /v1/chat/completions and stores each turn here (see
 * docs/web.md). Ids of other users' chats are indistinguishable from unknown ids.
 */
export class ChatService {
  private readonly clock: Clock;

  constructor(private readonly chats: ChatRepository, options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  private now(): string {
    return toTimestamp(this.clock.now());
  }

  async list(userId: string, search?: string): Promise<UiChatSummary[]> {
    const text = search?.trim().slice(0, MAX_SEARCH_CHARS);
    const chats = await this.chats.list(userId, { search: text || undefined, limit: CHAT_LIST_LIMIT });
    return chats.map(toUiChatSummary);
  }

  async create(userId: string, input: ChatSettings): Promise<UiChat> {
    const now = this.now();
    const chat = await this.chats.create({
      userId, title: input.title?.trim() ?? '', model: input.model ?? null, systemPrompt: input.systemPrompt ?? null,
      temperature: input.temperature ?? null, createdAt: now, updatedAt: now,
    });
    return { ...toUiChatSummary(chat), messages: [] };
  }

  private async owned(userId: string, id: string): Promise<ChatRecord> {
    const chat = await this.chats.findOwned(userId, id);
    if (!chat) throw new FlexiError('not_found', 'No such chat.');
    return chat;
  }

  async get(userId: string, id: string): Promise<UiChat> {
    const chat = await this.owned(userId, id);
    const messages = await this.chats.messages(chat.id);
    return { ...toUiChatSummary(chat), messages: messages.map(toUiChatMessage) };
  }

  async update(userId: string, id: string, patch: ChatSettings): Promise<UiChat> {
    await this.owned(userId, id);
    const clean = { ...patch, title: patch.title?.trim() };
    const updated = await this.chats.update(userId, id, clean, this.now());
    if (!updated) throw new FlexiError('not_found', 'No such chat.');
    return this.get(userId, id);
  }

  async delete(userId: string, id: string): Promise<void> {
    if (!(await this.chats.delete(userId, id))) throw new FlexiError('not_found', 'No such chat.');
  }

  async deleteAll(userId: string): Promise<number> {
    return this.chats.deleteAllOf(userId);
  }

  /**
   * Appends turns; with `replaceFrom` (a message id of this chat) that message and every later
   * one are replaced. An untitled chat takes its title from its first user message.
   */
  async append(userId: string, id: string, messages: readonly NewChatMessage[], replaceFrom?: string): Promise<UiChat> {
    const chat = await this.owned(userId, id);
    let fromPosition: number | undefined;
    const existing = await this.chats.messages(chat.id);
    if (replaceFrom !== undefined) {
      const from = existing.find((m) => m.id === replaceFrom);
      if (!from) throw new FlexiError('not_found', 'No such message in this chat.', { param: 'replace_from' });
      fromPosition = from.position;
    }
    const firstUser = messages.find((m) => m.role === 'user');
    const title = chat.title === '' && firstUser && firstUser.content.trim() !== '' ? titleFromMessage(firstUser.content) : undefined;
    await this.chats.appendMessages(chat, messages, { fromPosition, now: this.now(), title });
    return this.get(userId, id);
  }

  /** One chat, or all of the user's chats when `id` is undefined. */
  async export(userId: string, id: string | undefined, format: ExportFormat): Promise<{ body: string; fileName: string; contentType: string }> {
    const chats = id === undefined ? await this.all(userId) : [await this.get(userId, id)];
    const stamp = this.now().slice(0, 10);
    const base = id === undefined ? `flexi-chats-${stamp}` : `flexi-chat-${id}`;
    if (format === 'markdown') {
      return { body: chats.map(chatToMarkdown).join('\n---\n\n'), fileName: `${base}.md`, contentType: 'text/markdown; charset=utf-8' };
    }
    const document: ChatExport = { exported_at: this.now(), chats };
    return { body: `${JSON.stringify(document, null, 2)}\n`, fileName: `${base}.json`, contentType: 'application/json; charset=utf-8' };
  }

  private async all(userId: string): Promise<UiChat[]> {
    const chats = await this.chats.list(userId, { limit: Number.MAX_SAFE_INTEGER });
    const messages = await this.chats.messagesOfUser(userId);
    const byChat = new Map<string, UiChatMessage[]>();
    for (const message of messages) {
      let list = byChat.get(message.chatId);
      if (!list) byChat.set(message.chatId, (list = []));
      list.push(toUiChatMessage(message));
    }
    return chats.map((chat) => ({ ...toUiChatSummary(chat), messages: byChat.get(chat.id) ?? [] }));
  }
}
