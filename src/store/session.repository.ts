import type { Kysely } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { Database } from './database.js';

export interface SessionRecord {
  id: string;
  userId: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

/** Browser sessions; only a hash of the cookie value is stored. */
export class SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: { tokenHash: string; userId: string; csrfToken: string; createdAt: string; expiresAt: string }): Promise<SessionRecord> {
    const id = randomId(16);
    await this.db.insertInto('sessions').values({
      id, token_hash: input.tokenHash, user_id: input.userId, csrf_token: input.csrfToken,
      created_at: input.createdAt, expires_at: input.expiresAt, revoked_at: null,
    }).execute();
    return { id, userId: input.userId, csrfToken: input.csrfToken, createdAt: input.createdAt, expiresAt: input.expiresAt, revokedAt: null };
  }

  async findByHash(tokenHash: string): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return row && {
      id: row.id, userId: row.user_id, csrfToken: row.csrf_token, createdAt: row.created_at, expiresAt: row.expires_at, revokedAt: row.revoked_at,
    };
  }

  async revoke(id: string, at: string): Promise<void> {
    await this.db.updateTable('sessions').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }

  /** Ends every session of a user (disable, role change, password change), except `exceptId` (the one changing its own password). */
  async revokeAllOf(userId: string, at: string, exceptId?: string): Promise<void> {
    let query = this.db.updateTable('sessions').set({ revoked_at: at }).where('user_id', '=', userId).where('revoked_at', 'is', null);
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
    await query.execute();
  }

  /** Deletes sessions that ended before `before`. */
  async deleteEnded(before: string): Promise<number> {
    const result = await this.db.deleteFrom('sessions')
      .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
