import type { Kysely } from 'kysely';
import type { Database } from './database.js';

export interface AgreementAcceptance {
  userId: string;
  version: string;
  acceptedAt: string;
}

/** Which user accepted which version of the user agreement, and when. */
export class AgreementRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Records the acceptance; accepting a version twice keeps the first time. */
  async accept(userId: string, version: string, acceptedAt: string): Promise<void> {
    await this.db.insertInto('agreement_acceptances').values({ user_id: userId, version, accepted_at: acceptedAt })
      .onConflict((oc) => oc.columns(['user_id', 'version']).doNothing()).execute();
  }

  async find(userId: string, version: string): Promise<AgreementAcceptance | undefined> {
    const row = await this.db.selectFrom('agreement_acceptances').selectAll()
      .where('user_id', '=', userId).where('version', '=', version).executeTakeFirst();
    return row && { userId: row.user_id, version: row.version, acceptedAt: row.accepted_at };
  }

  /** Every acceptance of a user, oldest first (export). */
  async listOf(userId: string): Promise<AgreementAcceptance[]> {
    const rows = await this.db.selectFrom('agreement_acceptances').selectAll().where('user_id', '=', userId).orderBy('accepted_at').execute();
    return rows.map((row) => ({ userId: row.user_id, version: row.version, acceptedAt: row.accepted_at }));
  }

  async deleteAllOf(userId: string): Promise<number> {
    const result = await this.db.deleteFrom('agreement_acceptances').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
