import type { Kysely } from 'kysely';
import type { Database } from './database.js';

/** A user's wrapped chat data key (encrypted chats). */
export interface ChatKeyRecord {
  userId: string;
  passwordWrapped: string | null;
  recoveryWrapped: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The wrapped data keys of encrypted chats: per user, and per session while it lasts. */
export class ChatKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async find(userId: string): Promise<ChatKeyRecord | undefined> {
    const row = await this.db.selectFrom('chat_keys').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return row && {
      userId: row.user_id, passwordWrapped: row.password_wrapped, recoveryWrapped: row.recovery_wrapped, createdAt: row.created_at, updatedAt: row.updated_at,
    };
  }

  /** Creates the user's row unless one exists (two first sign-ins at once keep the first key); true if created. */
  async create(record: ChatKeyRecord): Promise<boolean> {
    const result = await this.db.insertInto('chat_keys').values({
      user_id: record.userId, password_wrapped: record.passwordWrapped, recovery_wrapped: record.recoveryWrapped,
      created_at: record.createdAt, updated_at: record.updatedAt,
    }).onConflict((oc) => oc.column('user_id').doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async update(userId: string, values: { passwordWrapped?: string | null; recoveryWrapped?: string | null; updatedAt: string }): Promise<void> {
    const set: { password_wrapped?: string | null; recovery_wrapped?: string | null; updated_at: string } = { updated_at: values.updatedAt };
    if (values.passwordWrapped !== undefined) set.password_wrapped = values.passwordWrapped;
    if (values.recoveryWrapped !== undefined) set.recovery_wrapped = values.recoveryWrapped;
    await this.db.updateTable('chat_keys').set(set).where('user_id', '=', userId).execute();
  }

  async sessionKey(sessionId: string): Promise<string | null> {
    const row = await this.db.selectFrom('sessions').select('chat_key').where('id', '=', sessionId).executeTakeFirst();
    return row?.chat_key ?? null;
  }

  async setSessionKey(sessionId: string, wrapped: string | null): Promise<void> {
    await this.db.updateTable('sessions').set({ chat_key: wrapped }).where('id', '=', sessionId).execute();
  }
}
