import { hash, verify } from '@node-rs/argon2';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { UserRecord } from '../../core/identity-records.js';
import type { UserRepository } from '../../store/user.repository.js';
import type { PolicyService } from './policy.service.js';

export const MAX_EMAIL_CHARS = 254;
export const MAX_NAME_CHARS = 200;
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 1024;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const MAX_ROLES = 20;

// algorithm 2 = Argon2id (a const enum in the typings, which isolated modules cannot read).
// OWASP's argon2id baseline (19 MiB, 2 passes): ~20-50 ms per hash on a server core.
const ARGON2_OPTIONS = { algorithm: 2 as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** Valid e-mail, lower-cased; throws invalid_request naming `param`. */
export function normalizeEmail(value: unknown, param = 'email'): string {
  if (typeof value !== 'string') throw new FlexiError('invalid_request', `${param} must be a string.`, { param });
  const email = value.trim().toLowerCase();
  if (email.length > MAX_EMAIL_CHARS || !EMAIL.test(email)) {
    throw new FlexiError('invalid_request', `${param} must be an e-mail address of at most ${MAX_EMAIL_CHARS} characters.`, { param });
  }
  return email;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

function checkPassword(password: unknown, param = 'password'): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_CHARS || password.length > MAX_PASSWORD_CHARS) {
    throw new FlexiError('invalid_request', `${param} must be ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters.`, { param });
  }
  return password;
}

export interface CreateUserInput {
  email: string;
  roles: string[];
  password?: string;
  displayName?: string | null;
}

type UserStore = Pick<UserRepository, 'create' | 'findById' | 'findByEmail' | 'findCredentials' | 'list' | 'update' | 'findIdentity' | 'linkIdentity' | 'touchIdentity' | 'listIdentities'>;

interface CachedUser {
  user: UserRecord | undefined;
  untilMs: number;
}

/**
 * Accounts: local (argon2id password) or single sign-on. `findActive` sits on every request
 * of a user's API key, so it caches for a few seconds; changes made here clear the cache at
 * once, changes made by another replica take up to `cacheTtlMs`.
 */
export class UserService {
  private readonly clock: Clock;
  private readonly cacheTtlMs: number;
  private readonly cache = new Map<string, CachedUser>();
  /** A real hash to verify against when the e-mail is unknown, so both cases cost the same. */
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly repository: UserStore, private readonly policies: PolicyService, options: { clock?: Clock; cacheTtlMs?: number } = {}) {
    this.clock = options.clock ?? systemClock;
    this.cacheTtlMs = options.cacheTtlMs ?? 5000;
  }

  validateRoles(roles: unknown, param = 'roles'): string[] {
    if (!Array.isArray(roles) || roles.length === 0 || roles.length > MAX_ROLES || roles.some((r) => typeof r !== 'string')) {
      throw new FlexiError('invalid_request', `${param} must be a list of 1 to ${MAX_ROLES} role names.`, { param });
    }
    try {
      this.policies.assertRoles(roles as string[]);
    } catch (error) {
      throw new FlexiError('invalid_request', `${(error as Error).message}.`, { param });
    }
    return [...new Set(roles as string[])];
  }

  private validateName(name: unknown): string | null {
    if (name === undefined || name === null) return null;
    if (typeof name !== 'string' || name.length > MAX_NAME_CHARS) {
      throw new FlexiError('invalid_request', `display_name must be a string of at most ${MAX_NAME_CHARS} characters.`, { param: 'display_name' });
    }
    return name.trim() || null;
  }

  async create(input: CreateUserInput): Promise<UserRecord> {
    const email = normalizeEmail(input.email);
    const roles = this.validateRoles(input.roles, 'role');
    const displayName = this.validateName(input.displayName);
    const passwordHash = input.password === undefined ? null : await hashPassword(checkPassword(input.password));
    if (await this.repository.findByEmail(email)) throw new FlexiError('conflict', `A user with the e-mail ${email} already exists.`, { param: 'email' });
    try {
      return await this.repository.create({ email, roles, displayName, passwordHash, createdAt: toTimestamp(this.clock.now()) });
    } catch (error) {
      // Two creates raced past the check above; the unique index decided.
      if (await this.repository.findByEmail(email)) throw new FlexiError('conflict', `A user with the e-mail ${email} already exists.`, { param: 'email' });
      throw error;
    }
  }

  /** By id or e-mail; throws not_found. */
  async get(ref: string): Promise<UserRecord> {
    const user = ref.includes('@') ? await this.repository.findByEmail(ref.trim().toLowerCase()) : await this.repository.findById(ref);
    if (!user) throw new FlexiError('not_found', `No user ${ref.slice(0, 100)}.`);
    return user;
  }

  find(ref: string): Promise<UserRecord | undefined> {
    return this.get(ref).catch(() => undefined);
  }

  list(options: { search?: string; limit?: number; offset?: number } = {}): Promise<UserRecord[]> {
    return this.repository.list(options);
  }

  /** The user when it exists and is not disabled (cached briefly; used per request). */
  async findActive(id: string): Promise<UserRecord | undefined> {
    const nowMs = this.clock.now();
    const cached = this.cache.get(id);
    if (cached && cached.untilMs > nowMs) return cached.user;
    const user = await this.repository.findById(id);
    const active = user && user.disabledAt === null ? user : undefined;
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(id, { user: active, untilMs: nowMs + this.cacheTtlMs });
    return active;
  }

  async setRoles(id: string, roles: string[]): Promise<UserRecord> {
    const valid = this.validateRoles(roles);
    return this.change(id, { roles: valid });
  }

  async setDisabled(id: string, disabled: boolean): Promise<UserRecord> {
    const user = await this.get(id);
    if ((user.disabledAt !== null) === disabled) return user;
    return this.change(id, { disabledAt: disabled ? toTimestamp(this.clock.now()) : null });
  }

  async setPassword(id: string, password: string): Promise<UserRecord> {
    return this.change(id, { passwordHash: await hashPassword(checkPassword(password)) });
  }

  /**
   * A user's own change: the current password must be right. Throws invalid_request naming
   * `current_password` when it is not, or when the account has no password (single sign-on).
   */
  async changePassword(id: string, currentPassword: string, newPassword: string): Promise<UserRecord> {
    const user = await this.get(id);
    const found = await this.repository.findCredentials(user.email);
    const ok = found?.passwordHash ? await verify(found.passwordHash, currentPassword).catch(() => false) : false;
    if (!found?.passwordHash) {
      throw new FlexiError('invalid_request', 'This account signs in with single sign-on and has no password to change.', { param: 'current_password' });
    }
    if (!ok) throw new FlexiError('invalid_request', 'current_password is not your current password.', { param: 'current_password' });
    return this.change(id, { passwordHash: await hashPassword(checkPassword(newPassword, 'new_password')) });
  }

  async setDisplayName(id: string, name: unknown): Promise<UserRecord> {
    return this.change(id, { displayName: this.validateName(name) });
  }

  /**
   * The active user whose password this is; undefined otherwise (unknown e-mail, wrong
   * password, SSO-only account or disabled: the caller cannot tell which).
   */
  async verifyPassword(email: string, password: string): Promise<UserRecord | undefined> {
    const normalized = typeof email === 'string' ? email.trim().toLowerCase() : '';
    if (typeof password !== 'string' || password.length > MAX_PASSWORD_CHARS || normalized.length > MAX_EMAIL_CHARS) return undefined;
    const found = normalized ? await this.repository.findCredentials(normalized) : undefined;
    this.dummyHash ??= hashPassword('not-a-password-of-anyone');
    const stored = found?.passwordHash ?? (await this.dummyHash);
    const ok = await verify(stored, password).catch(() => false);
    if (!ok || !found?.passwordHash || found.user.disabledAt !== null) return undefined;
    await this.repository.update(found.user.id, { lastLoginAt: toTimestamp(this.clock.now()) }, toTimestamp(this.clock.now()));
    return found.user;
  }

  /**
   * The user behind an external identity: the linked one, else the user with the same
   * (provider-verified) e-mail, else a new one. Roles are set on creation and, with
   * `syncRoles`, at every login.
   */
  async upsertExternal(input: {
    provider: string; subject: string; email: string | null; emailVerified: boolean; displayName: string | null; roles: string[]; syncRoles: boolean;
  }): Promise<UserRecord> {
    const now = toTimestamp(this.clock.now());
    const roles = input.roles.filter((role) => this.policies.hasRole(role));
    const identity = await this.repository.findIdentity(input.provider, input.subject);
    let user: UserRecord | undefined;
    if (identity) {
      user = await this.repository.findById(identity.userId);
      await this.repository.touchIdentity(input.provider, input.subject, now);
    } else {
      if (!input.email) throw new FlexiError('permission_denied', 'The identity provider sent no e-mail address; ask it to release the e-mail claim.');
      const email = normalizeEmail(input.email);
      user = await this.repository.findByEmail(email);
      if (user && !input.emailVerified) {
        throw new FlexiError('conflict', 'An account with this e-mail already exists and the provider did not verify the address; ask an administrator to link it.');
      }
      user ??= await this.repository.create({ email, roles, displayName: input.displayName, createdAt: now });
      await this.repository.linkIdentity({ userId: user.id, provider: input.provider, subject: input.subject, email, at: now });
    }
    if (!user) throw new FlexiError('not_found', 'The account linked to this identity no longer exists.');
    if (user.disabledAt !== null) throw new FlexiError('permission_denied', 'This account is disabled.');
    const changes: Parameters<UserStore['update']>[1] = { lastLoginAt: now };
    if (input.syncRoles && roles.length > 0 && roles.join() !== user.roles.join()) changes.roles = roles;
    if (input.displayName && !user.displayName) changes.displayName = input.displayName;
    return (await this.change(user.id, changes, now));
  }

  listIdentities(userId: string) {
    return this.repository.listIdentities(userId);
  }

  private async change(id: string, changes: Parameters<UserStore['update']>[1], at = toTimestamp(this.clock.now())): Promise<UserRecord> {
    const user = await this.repository.update(id, changes, at);
    this.cache.delete(id);
    if (!user) throw new FlexiError('not_found', `No user ${id.slice(0, 100)}.`);
    return user;
  }
}
