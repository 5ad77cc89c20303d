import type { Kysely, Selectable } from 'kysely';
import { FlexiError } from '../core/errors.js';
import type { ApiKeyRecord } from '../core/identity-records.js';
import { randomId } from '../lib/ids.js';
import type { ApiKeysTable, Database } from './database.js';

export interface NewApiKey {
  /** Generated when missing. */
  id?: string;
  name: string;
  prefix: string;
  keyHash: string;
  userId?: string | null;
  role?: string | null;
  scopes?: string[] | null;
  createdAt: string;
  expiresAt?: string | null;
}

export interface RevokeResult {
  record: ApiKeyRecord;
  /** The key was revoked before this call; `record.revokedAt` is the first revocation. */
  alreadyRevoked: boolean;
}

const PUBLIC_COLUMNS = [
  'id', 'name', 'prefix', 'user_id', 'role', 'scopes', 'created_at', 'expires_at', 'last_used_at', 'revoked_at',
] as const;

type ApiKeyRow = Pick<Selectable<ApiKeysTable>, (typeof PUBLIC_COLUMNS)[number]>;

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    userId: row.user_id,
    role: row.role,
    scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as string[]),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export class ApiKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: NewApiKey): Promise<ApiKeyRecord> {
    const row = {
      id: input.id ?? randomId(16),
      name: input.name,
      prefix: input.prefix,
      key_hash: input.keyHash,
      user_id: input.userId ?? null,
      role: input.role ?? null,
      scopes: input.scopes ? JSON.stringify(input.scopes) : null,
      created_at: input.createdAt,
      expires_at: input.expiresAt ?? null,
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return toRecord(row);
  }

  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').select(PUBLIC_COLUMNS).where('key_hash', '=', keyHash).executeTakeFirst();
    return row && toRecord(row);
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /** Every key, oldest first; only one user's keys when `userId` is given. */
  async list(options: { userId?: string } = {}): Promise<ApiKeyRecord[]> {
    let query = this.db.selectFrom('api_keys').select(PUBLIC_COLUMNS);
    if (options.userId !== undefined) query = query.where('user_id', '=', options.userId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  /** Revokes one key by id; undefined when no such key. */
  async revokeById(id: string, at: string): Promise<RevokeResult | undefined> {
    const target = await this.findById(id);
    if (!target) return undefined;
    if (target.revokedAt !== null) return { record: target, alreadyRevoked: true };
    await this.db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    return { record: { ...target, revokedAt: at }, alreadyRevoked: false };
  }

  /**
   * Revokes the key named by `ref`: an id first, else the one active key with that name or
   * prefix. Several active matches are refused rather than guessed. Undefined when nothing matches.
   */
  async revoke(ref: string, at: string): Promise<RevokeResult | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const matches = (await trx.selectFrom('api_keys').select(PUBLIC_COLUMNS)
        .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref), eb('prefix', '=', ref)]))
        .orderBy('created_at', 'desc')
        .execute()).map(toRecord);
      const byId = matches.find((k) => k.id === ref);
      const active = matches.filter((k) => k.revokedAt === null);
      if (!byId && active.length > 1) {
        throw new FlexiError('conflict',
          `${active.length} active API keys match "${ref}" (${active.map((k) => k.prefix).join(', ')}); revoke one by id or prefix.`);
      }
      const target = byId ?? active[0] ?? matches[0];
      if (!target) return undefined;
      if (target.revokedAt !== null) return { record: target, alreadyRevoked: true };
      await trx.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', target.id).execute();
      return { record: { ...target, revokedAt: at }, alreadyRevoked: false };
    });
  }

  /** One statement for a whole batch of keys seen since the last call. */
  async touchLastUsed(ids: readonly string[], at: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', 'in', ids).execute();
  }
}
