import { sql, type Kysely, type Selectable } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { ChatMessagesTable, ChatsTable, Database } from './database.js';

export interface ChatRecord {
  id: string;
  userId: string;
  title: string;
  model: string | null;
  systemPrompt: string | null;
  temperature: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface ChatMessageRecord {
  id: string;
  chatId: string;
  userId: string;
  position: number;
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  finish: string | null;
  createdAt: string;
  /** As stored: a JSON array of data: URLs, or a sealed value (encrypted chats); null without images. */
  images: string | null;
}

export interface NewChatMessage {
  role: 'user' | 'assistant';
  content: string;
  model?: string | null;
  finish?: string | null;
  /** As stored (see ChatMessageRecord.images). */
  images?: string | null;
}

export type ChatPatch = Partial<Pick<ChatRecord, 'title' | 'model' | 'systemPrompt' | 'temperature'>>;

function toChat(row: Selectable<ChatsTable>): ChatRecord {
  return {
    id: row.id, userId: row.user_id, title: row.title, model: row.model, systemPrompt: row.system_prompt,
    temperature: row.temperature === null ? null : Number(row.temperature), createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

function toMessage(row: Selectable<ChatMessagesTable>): ChatMessageRecord {
  return {
    id: row.id, chatId: row.chat_id, userId: row.user_id, position: Number(row.position), role: row.role as ChatMessageRecord['role'],
    content: row.content, model: row.model, finish: row.finish, createdAt: row.created_at, images: row.images ?? null,
  };
}

/** `%text%` for LIKE, with the wildcards of the search text itself escaped (escape char `\`). */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Web chats and their messages. Every read and change takes the owner's user id: a chat id of
 * another user behaves exactly like an unknown one.
 */
export class ChatRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: Omit<ChatRecord, 'id'>): Promise<ChatRecord> {
    const chat: ChatRecord = { id: randomId(20), ...input };
    await this.db.insertInto('chats').values({
      id: chat.id, user_id: chat.userId, title: chat.title, model: chat.model, system_prompt: chat.systemPrompt,
      temperature: chat.temperature, created_at: chat.createdAt, updated_at: chat.updatedAt,
    }).execute();
    return chat;
  }

  async findOwned(userId: string, id: string): Promise<ChatRecord | undefined> {
    const row = await this.db.selectFrom('chats').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return row && toChat(row);
  }

  /** Newest first; `search` matches the title or any message, case-insensitively. */
  async list(userId: string, options: { search?: string; limit: number; offset?: number }): Promise<ChatRecord[]> {
    let query = this.db.selectFrom('chats').selectAll('chats').where('chats.user_id', '=', userId);
    if (options.search) {
      const pattern = likePattern(options.search);
      query = query.where((eb) => eb.or([
        sql<boolean>`lower(${eb.ref('chats.title')}) like ${pattern} escape '\\'`,
        eb.exists(eb.selectFrom('chat_messages').select('chat_messages.id')
          .whereRef('chat_messages.chat_id', '=', 'chats.id')
          .where(sql<boolean>`lower(${sql.ref('chat_messages.content')}) like ${pattern} escape '\\'`)),
      ]));
    }
    const rows = await query.orderBy('chats.updated_at', 'desc').orderBy('chats.id').limit(options.limit).offset(options.offset ?? 0).execute();
    return rows.map(toChat);
  }

  async update(userId: string, id: string, patch: ChatPatch, updatedAt: string): Promise<ChatRecord | undefined> {
    const values: Partial<ChatsTable> = { updated_at: updatedAt };
    if (patch.title !== undefined) values.title = patch.title;
    if (patch.model !== undefined) values.model = patch.model;
    if (patch.systemPrompt !== undefined) values.system_prompt = patch.systemPrompt;
    if (patch.temperature !== undefined) values.temperature = patch.temperature;
    await this.db.updateTable('chats').set(values).where('id', '=', id).where('user_id', '=', userId).execute();
    return this.findOwned(userId, id);
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('chats').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Deletes every chat of a user (messages go with them); returns how many chats. */
  async deleteAllOf(userId: string): Promise<number> {
    await this.db.deleteFrom('chat_messages').where('user_id', '=', userId).execute();
    const result = await this.db.deleteFrom('chats').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Retention: deletes chats not touched since `before`; returns how many. */
  async deleteUpdatedBefore(before: string): Promise<number> {
    const result = await this.db.deleteFrom('chats').where('updated_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async messages(chatId: string): Promise<ChatMessageRecord[]> {
    const rows = await this.db.selectFrom('chat_messages').selectAll().where('chat_id', '=', chatId).orderBy('position').execute();
    return rows.map(toMessage);
  }

  /** Every message of a user's chats (export), ordered by chat and position. */
  async messagesOfUser(userId: string): Promise<ChatMessageRecord[]> {
    const rows = await this.db.selectFrom('chat_messages').selectAll().where('user_id', '=', userId).orderBy('chat_id').orderBy('position').execute();
    return rows.map(toMessage);
  }

  /** Sets the text and end of one message (an answer the server finished writing); false if it is gone. */
  async finishMessage(chat: Pick<ChatRecord, 'id' | 'userId'>, messageId: string, values: { content: string; finish: string; now: string }): Promise<boolean> {
    const result = await this.db.updateTable('chat_messages').set({ content: values.content, finish: values.finish })
      .where('id', '=', messageId).where('chat_id', '=', chat.id).where('user_id', '=', chat.userId).executeTakeFirst();
    await this.db.updateTable('chats').set({ updated_at: values.now }).where('id', '=', chat.id).where('user_id', '=', chat.userId).execute();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Every chat of a user with all its messages' text (search over encrypted chats happens after decrypting). */
  async listAll(userId: string): Promise<ChatRecord[]> {
    const rows = await this.db.selectFrom('chats').selectAll().where('user_id', '=', userId).orderBy('updated_at', 'desc').orderBy('id').execute();
    return rows.map(toChat);
  }

  /**
   * Appends messages to a chat the user owns. With `fromPosition`, the messages from that
   * position on are replaced first (edit and resend, regenerate). One transaction.
   */
  async appendMessages(
    chat: ChatRecord, messages: readonly NewChatMessage[], options: { fromPosition?: number; now: string; title?: string },
  ): Promise<ChatMessageRecord[]> {
    return this.db.transaction().execute(async (trx) => {
      if (options.fromPosition !== undefined) {
        await trx.deleteFrom('chat_messages').where('chat_id', '=', chat.id).where('position', '>=', options.fromPosition).execute();
      }
      const last = await trx.selectFrom('chat_messages').select((eb) => eb.fn.max('position').as('max')).where('chat_id', '=', chat.id).executeTakeFirst();
      let position = last?.max === null || last?.max === undefined ? 0 : Number(last.max) + 1;
      const records: ChatMessageRecord[] = messages.map((m) => ({
        id: randomId(20), chatId: chat.id, userId: chat.userId, position: position++, role: m.role, content: m.content,
        model: m.model ?? null, finish: m.finish ?? null, createdAt: options.now, images: m.images ?? null,
      }));
      if (records.length > 0) {
        await trx.insertInto('chat_messages').values(records.map((r) => ({
          id: r.id, chat_id: r.chatId, user_id: r.userId, position: r.position, role: r.role, content: r.content,
          model: r.model, finish: r.finish, created_at: r.createdAt, images: r.images,
        }))).execute();
      }
      const values: Partial<ChatsTable> = { updated_at: options.now };
      if (options.title !== undefined) values.title = options.title;
      await trx.updateTable('chats').set(values).where('id', '=', chat.id).where('user_id', '=', chat.userId).execute();
      return records;
    });
  }
}
