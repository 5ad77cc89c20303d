import type { Kysely, Selectable } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { UserRecord } from '../core/identity-records.js';
import type { Database, UsersTable } from './database.js';

export interface NewUser {
  id?: string;
  email: string;
  displayName?: string | null;
  passwordHash?: string | null;
  roles: string[];
  createdAt: string;
}

export interface UserChanges {
  displayName?: string | null;
  passwordHash?: string | null;
  roles?: string[];
  disabledAt?: string | null;
  lastLoginAt?: string;
}

export interface IdentityRecord {
  id: string;
  userId: string;
  provider: string;
  subject: string;
  email: string | null;
  createdAt: string;
  lastLoginAt: string | null;
}

const USER_COLUMNS = ['id', 'email', 'display_name', 'roles', 'created_at', 'updated_at', 'last_login_at', 'disabled_at'] as const;
type UserRow = Pick<Selectable<UsersTable>, (typeof USER_COLUMNS)[number]>;

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    roles: JSON.parse(row.roles) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastLoginAt: row.last_login_at,
    disabledAt: row.disabled_at,
  };
}

/** Users and their external identities (single sign-on, later LTI). */
export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: NewUser): Promise<UserRecord> {
    const row = {
      id: input.id ?? randomId(16),
      email: input.email,
      display_name: input.displayName ?? null,
      password_hash: input.passwordHash ?? null,
      roles: JSON.stringify(input.roles),
      created_at: input.createdAt,
      updated_at: input.createdAt,
      last_login_at: null,
      disabled_at: null,
    };
    await this.db.insertInto('users').values(row).execute();
    return toUser(row);
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async findByEmail(email: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').select(USER_COLUMNS).where('email', '=', email).executeTakeFirst();
    return row && toUser(row);
  }

  /** The user and the stored password hash (null for SSO-only accounts), for a login. */
  async findCredentials(email: string): Promise<{ user: UserRecord; passwordHash: string | null } | undefined> {
    const row = await this.db.selectFrom('users').select([...USER_COLUMNS, 'password_hash']).where('email', '=', email).executeTakeFirst();
    return row && { user: toUser(row), passwordHash: row.password_hash };
  }

  /** Users ordered by e-mail; `search` matches a part of the e-mail. */
  async list(options: { search?: string; limit?: number; offset?: number } = {}): Promise<UserRecord[]> {
    let query = this.db.selectFrom('users').select(USER_COLUMNS);
    if (options.search) query = query.where('email', 'like', `%${options.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const rows = await query.orderBy('email').limit(options.limit ?? 1000).offset(options.offset ?? 0).execute();
    return rows.map(toUser);
  }

  /** Just the ids, for usage reports that map pseudonyms back (admin only). */
  async listAll(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').select(USER_COLUMNS).orderBy('email').execute()).map(toUser);
  }

  async update(id: string, changes: UserChanges, at: string): Promise<UserRecord | undefined> {
    const set: Partial<Selectable<UsersTable>> = { updated_at: at };
    if (changes.displayName !== undefined) set.display_name = changes.displayName;
    if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
    if (changes.roles !== undefined) set.roles = JSON.stringify(changes.roles);
    if (changes.disabledAt !== undefined) set.disabled_at = changes.disabledAt;
    if (changes.lastLoginAt !== undefined) set.last_login_at = changes.lastLoginAt;
    await this.db.updateTable('users').set(set).where('id', '=', id).execute();
    return this.findById(id);
  }

  async findIdentity(provider: string, subject: string): Promise<IdentityRecord | undefined> {
    const row = await this.db.selectFrom('identities').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
    return row && {
      id: row.id, userId: row.user_id, provider: row.provider, subject: row.subject, email: row.email,
      createdAt: row.created_at, lastLoginAt: row.last_login_at,
    };
  }

  async listIdentities(userId: string): Promise<IdentityRecord[]> {
    const rows = await this.db.selectFrom('identities').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map((row) => ({
      id: row.id, userId: row.user_id, provider: row.provider, subject: row.subject, email: row.email,
      createdAt: row.created_at, lastLoginAt: row.last_login_at,
    }));
  }

  async linkIdentity(input: { userId: string; provider: string; subject: string; email: string | null; at: string }): Promise<void> {
    await this.db.insertInto('identities').values({
      id: randomId(16), user_id: input.userId, provider: input.provider, subject: input.subject, email: input.email,
      created_at: input.at, last_login_at: input.at,
    }).execute();
  }

  async touchIdentity(provider: string, subject: string, at: string): Promise<void> {
    await this.db.updateTable('identities').set({ last_login_at: at }).where('provider', '=', provider).where('subject', '=', subject).execute();
  }
}
