import type { ChatExport, FinishReason, UiChat, UiChatMessage, UiChatSummary } from '../api/ui.js';
import { FlexiError } from '../core/errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { ChatMessageRecord, ChatRecord, ChatRepository } from '../store/chat.repository.js';
import { toTimestamp } from '../store/database.js';
import { isSealed, openSealedText, seal } from './chat-crypto.js';

/**
 * Whose chats, and the key that opens them: the user's data key while their session holds it
 * (encrypted chats, docs/privacy.md), else undefined.
 */
export interface ChatOwner {
  userId: string;
  key: Buffer | undefined;
}

/** A turn as the web UI sends it: images as data: URLs. */
export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
  model?: string | null;
  finish?: string | null;
  images?: readonly string[];
}

/** What a chat's owner sets when creating or changing a chat; fields left out stay as they are. */
export type ChatSettings = Partial<Pick<ChatRecord, 'title' | 'model' | 'systemPrompt' | 'temperature'>>;

export const CHAT_LIST_LIMIT = 500;
const TITLE_FROM_MESSAGE_CHARS = 60;
const MAX_SEARCH_CHARS = 200;

export type ExportFormat = 'json' | 'markdown';

/** Values sealed for one user can be opened for that user only (the user id is bound to them). */
function reveal(owner: ChatOwner, value: string): string {
  if (!isSealed(value)) return value;
  if (!owner.key) throw new FlexiError('chats_locked');
  return openSealedText(owner.key, value, owner.userId);
}

function revealImages(owner: ChatOwner, value: string | null): string[] {
  if (value === null) return [];
  return JSON.parse(reveal(owner, value)) as string[];
}

export function toUiChatSummary(chat: ChatRecord, owner: ChatOwner): UiChatSummary {
  return {
    id: chat.id, title: reveal(owner, chat.title), model: chat.model, system_prompt: chat.systemPrompt === null ? null : reveal(owner, chat.systemPrompt),
    temperature: chat.temperature, created_at: chat.createdAt, updated_at: chat.updatedAt, locked: false,
  };
}

export function toUiChatMessage(message: ChatMessageRecord, owner: ChatOwner): UiChatMessage {
  return {
    id: message.id, role: message.role, content: reveal(owner, message.content), model: message.model,
    finish: message.finish as FinishReason | null, created_at: message.createdAt, images: revealImages(owner, message.images),
    // Set by the answer service while it writes this message; a null finish without it was cut off.
    streaming: false,
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
  private readonly encrypt: boolean;

  /** `encrypt`: config `privacy.encrypt_chats` — every title, system prompt, message and image written is sealed. */
  constructor(private readonly chats: ChatRepository, options: { clock?: Clock; encrypt?: boolean } = {}) {
    this.clock = options.clock ?? systemClock;
    this.encrypt = options.encrypt ?? false;
  }

  /** Whether new chat text is encrypted at rest. */
  get encrypting(): boolean {
    return this.encrypt;
  }

  private now(): string {
    return toTimestamp(this.clock.now());
  }

  /** What is written: sealed under the owner's key when encryption is on (and refused without one). */
  private conceal(owner: ChatOwner, value: string): string {
    if (!this.encrypt) return value;
    if (!owner.key) throw new FlexiError('chats_locked');
    return seal(owner.key, value, owner.userId);
  }

  private concealImages(owner: ChatOwner, images: readonly string[] | undefined): string | null {
    return images && images.length > 0 ? this.conceal(owner, JSON.stringify(images)) : null;
  }

  async list(owner: ChatOwner, search?: string): Promise<UiChatSummary[]> {
    const text = search?.trim().slice(0, MAX_SEARCH_CHARS);
    // The database cannot search sealed text: with encryption on, search what the key opens.
    if (text && this.encrypt) return (await this.openable(owner)).filter((chat) => matches(chat, text)).slice(0, CHAT_LIST_LIMIT).map(summaryOf);
    const chats = await this.chats.list(owner.userId, { search: text || undefined, limit: CHAT_LIST_LIMIT });
    return chats.map((chat) => lockedOr(() => toUiChatSummary(chat, owner), chat));
  }

  async create(owner: ChatOwner, input: ChatSettings): Promise<UiChat> {
    const now = this.now();
    const chat = await this.chats.create({
      userId: owner.userId, title: this.conceal(owner, input.title?.trim() ?? ''), model: input.model ?? null,
      systemPrompt: input.systemPrompt == null ? null : this.conceal(owner, input.systemPrompt),
      temperature: input.temperature ?? null, createdAt: now, updatedAt: now,
    });
    return { ...toUiChatSummary(chat, owner), messages: [] };
  }

  private async owned(userId: string, id: string): Promise<ChatRecord> {
    const chat = await this.chats.findOwned(userId, id);
    if (!chat) throw new FlexiError('not_found', 'No such chat.');
    return chat;
  }

  async get(owner: ChatOwner, id: string): Promise<UiChat> {
    const chat = await this.owned(owner.userId, id);
    const messages = await this.chats.messages(chat.id);
    return { ...toUiChatSummary(chat, owner), messages: messages.map((m) => toUiChatMessage(m, owner)) };
  }

  async update(owner: ChatOwner, id: string, patch: ChatSettings): Promise<UiChat> {
    await this.owned(owner.userId, id);
    const clean: ChatSettings = {
      ...patch,
      title: patch.title === undefined ? undefined : this.conceal(owner, patch.title.trim()),
      systemPrompt: patch.systemPrompt == null ? patch.systemPrompt : this.conceal(owner, patch.systemPrompt),
    };
    const updated = await this.chats.update(owner.userId, id, clean, this.now());
    if (!updated) throw new FlexiError('not_found', 'No such chat.');
    return this.get(owner, id);
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
  async append(owner: ChatOwner, id: string, messages: readonly ChatTurn[], replaceFrom?: string): Promise<UiChat> {
    const chat = await this.owned(owner.userId, id);
    let fromPosition: number | undefined;
    const existing = await this.chats.messages(chat.id);
    if (replaceFrom !== undefined) {
      const from = existing.find((m) => m.id === replaceFrom);
      if (!from) throw new FlexiError('not_found', 'No such message in this chat.', { param: 'replace_from' });
      fromPosition = from.position;
    }
    const firstUser = messages.find((m) => m.role === 'user');
    const untitled = reveal(owner, chat.title) === '';
    const title = untitled && firstUser && firstUser.content.trim() !== '' ? this.conceal(owner, titleFromMessage(firstUser.content)) : undefined;
    const stored = messages.map((m) => ({
      role: m.role, content: this.conceal(owner, m.content), model: m.model, finish: m.finish, images: this.concealImages(owner, m.images),
    }));
    await this.chats.appendMessages(chat, stored, { fromPosition, now: this.now(), title });
    return this.get(owner, id);
  }

  /** Stores the text and end of an answer the server wrote (see ChatAnswerService). */
  async finishAnswer(owner: ChatOwner, chatId: string, messageId: string, content: string, finish: FinishReason): Promise<void> {
    await this.chats.finishMessage({ id: chatId, userId: owner.userId }, messageId, { content: this.conceal(owner, content), finish, now: this.now() });
  }

  /** One chat, or all of the user's chats when `id` is undefined. */
  async export(owner: ChatOwner, id: string | undefined, format: ExportFormat): Promise<{ body: string; fileName: string; contentType: string }> {
    const chats = id === undefined ? await this.all(owner) : [await this.get(owner, id)];
    const stamp = this.now().slice(0, 10);
    const base = id === undefined ? `flexi-chats-${stamp}` : `flexi-chat-${id}`;
    if (format === 'markdown') {
      return { body: chats.map(chatToMarkdown).join('\n---\n\n'), fileName: `${base}.md`, contentType: 'text/markdown; charset=utf-8' };
    }
    const document: ChatExport = { exported_at: this.now(), chats };
    return { body: `${JSON.stringify(document, null, 2)}\n`, fileName: `${base}.json`, contentType: 'application/json; charset=utf-8' };
  }

  /** The chats this owner's key opens (search over encrypted chats skips the locked ones). */
  private async openable(owner: ChatOwner): Promise<UiChat[]> {
    const chats = await this.chats.listAll(owner.userId);
    const open: UiChat[] = [];
    for (const chat of chats) {
      try {
        open.push(await this.get(owner, chat.id));
      } catch (error) {
        if (!(error instanceof FlexiError && error.code === 'chats_locked')) throw error;
      }
    }
    return open;
  }

  private async all(owner: ChatOwner): Promise<UiChat[]> {
    const chats = await this.chats.listAll(owner.userId);
    const messages = await this.chats.messagesOfUser(owner.userId);
    const byChat = new Map<string, UiChatMessage[]>();
    for (const message of messages) {
      let list = byChat.get(message.chatId);
      if (!list) byChat.set(message.chatId, (list = []));
      list.push(toUiChatMessage(message, owner));
    }
    return chats.map((chat) => ({ ...toUiChatSummary(chat, owner), messages: byChat.get(chat.id) ?? [] }));
  }
}

/** A chat the owner's key cannot open is listed without its title, marked locked. */
function lockedOr(summary: () => UiChatSummary, chat: ChatRecord): UiChatSummary {
  try {
    return summary();
  } catch (error) {
    if (!(error instanceof FlexiError && error.code === 'chats_locked')) throw error;
    return {
      id: chat.id, title: '', model: chat.model, system_prompt: null, temperature: chat.temperature,
      created_at: chat.createdAt, updated_at: chat.updatedAt, locked: true,
    };
  }
}

function matches(chat: UiChat, text: string): boolean {
  const wanted = text.toLowerCase();
  return chat.title.toLowerCase().includes(wanted) || chat.messages.some((m) => m.content.toLowerCase().includes(wanted));
}

function summaryOf(chat: UiChat): UiChatSummary {
  const { messages: _messages, ...summary } = chat;
  return summary;
}
