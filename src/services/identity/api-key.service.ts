import { hash } from 'node:crypto';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import type { ApiKeyRecord } from '../../core/identity-records.js';
import type { ApiKeyRepository, RevokeResult } from '../../store/api-key.repository.js';
import type { CounterStore } from '../../store/counter-store.js';
import { toTimestamp } from '../../store/database.js';

export const API_KEY_PREFIX = 'flx-';
const KEY_RANDOM_CHARS = 40;
/** `flx-` + 8 random characters: enough to tell keys apart, far too few to guess the rest. */
export const API_KEY_SHOWN_CHARS = 12;
const KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}[A-Za-z0-9]{${KEY_RANDOM_CHARS}}$`);
const MAX_NAME_CHARS = 100;

export type WarnLogger = (message: string, details?: Record<string, unknown>) => void;

/** How revocations reach every process: Redis pub/sub with several replicas, in-process otherwise. */
export type RevocationChannel = Pick<CounterStore, 'publishKeyRevoked' | 'onKeyRevoked'>;

export interface ApiKeyServiceOptions {
  /** Revocations made by other replicas arrive here at once; this service publishes its own. */
  revocations: RevocationChannel;
  clock?: Clock;
  /**
   * How long a verified key is trusted without asking the database: the bound for revocations
   * that were not published (the CLI, or a Redis outage). 1 s: one query per key and second.
   */
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  /** `last_used_at` is written at most this often, for all keys seen in the interval at once. */
  touchIntervalMs?: number;
  warn?: WarnLogger;
}

export interface CreateApiKeyInput {
  name: string;
  role?: string | null;
  expiresAt?: Date | null;
  userId?: string | null;
  scopes?: string[] | null;
}

/**
 * SHA-256 hex of the whole key: what the database stores and looks up. One-shot `crypto.hash`
 * (Node ≥ 20.12): it runs on every request, and a `createHash` object costs about four times more.
 */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

type ApiKeyStore = Pick<ApiKeyRepository, 'create' | 'findByHash' | 'list' | 'revoke' | 'touchLastUsed'> & Partial<Pick<ApiKeyRepository, 'revokeById' | 'findById'>>;

interface CacheEntry {
  record: ApiKeyRecord;
  cachedUntilMs: number;
}

/**
 * API keys: opaque `flx-…` strings of which only the SHA-256 is stored. `verify` sits on every
 * request, so verified lookups (including revoked ones) are cached for a few seconds and
 * `last_used_at` is written in batches.
 */
export class ApiKeyService {
  private readonly clock: Clock;
  private readonly cacheTtlMs: number;
  private readonly cacheMaxEntries: number;
  private readonly touchIntervalMs: number;
  private readonly warn: WarnLogger;
  private readonly revocations: RevocationChannel;
  /** Resolves once revocations published by other processes reach this one. */
  readonly listening: Promise<void>;
  /** Insertion order is recency order: a hit is re-inserted, the first entry is the least recent. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly lookups = new Map<string, Promise<ApiKeyRecord | undefined>>();
  /** Bumped after each revoke so a lookup that started before it does not cache a stale record. */
  private revocationCount = 0;
  private readonly pendingTouches = new Set<string>();
  private touchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly repository: ApiKeyStore, options: ApiKeyServiceOptions) {
    this.clock = options.clock ?? systemClock;
    this.cacheTtlMs = options.cacheTtlMs ?? 1000;
    this.revocations = options.revocations;
    this.listening = this.revocations.onKeyRevoked((id) => (id === undefined ? this.forgetAll() : this.forget(id)));
    this.cacheMaxEntries = options.cacheMaxEntries ?? 10_000;
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.warn = options.warn ?? (() => {});
  }

  /** Creates a key. The returned `key` exists only here: it cannot be shown again. */
  async create(input: CreateApiKeyInput): Promise<{ key: string; record: ApiKeyRecord }> {
    const name = input.name.trim();
    if (name === '' || name.length > MAX_NAME_CHARS) {
      throw new FlexiError('invalid_request', `name must be 1 to ${MAX_NAME_CHARS} characters.`, { param: 'name' });
    }
    if (input.role !== undefined && input.role !== null && input.role.trim() === '') {
      throw new FlexiError('invalid_request', 'role must not be empty.', { param: 'role' });
    }
    const now = this.clock.now();
    if (input.expiresAt && (Number.isNaN(input.expiresAt.getTime()) || input.expiresAt.getTime() <= now)) {
      throw new FlexiError('invalid_request', 'expires_at must be a valid time in the future.', { param: 'expires_at' });
    }
    const key = API_KEY_PREFIX + randomId(KEY_RANDOM_CHARS);
    const record = await this.repository.create({
      name,
      prefix: key.slice(0, API_KEY_SHOWN_CHARS),
      keyHash: hashApiKey(key),
      userId: input.userId ?? null,
      role: input.role?.trim() ?? null,
      scopes: input.scopes ?? null,
      createdAt: toTimestamp(now),
      expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
    });
    return { key, record };
  }

  /** The key's record when it is known, not revoked and not expired; otherwise undefined. */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    if (!KEY_PATTERN.test(key)) return undefined;
    const hash = hashApiKey(key);
    const now = this.clock.now();
    const record = this.fromCache(hash, now) ?? (await this.lookup(hash));
    if (!record || !this.isUsable(record, this.clock.now())) return undefined;
    this.markUsed(record.id);
    return record;
  }

  list(options: { userId?: string } = {}): Promise<ApiKeyRecord[]> {
    return this.repository.list(options);
  }

  findById(id: string): Promise<ApiKeyRecord | undefined> {
    if (!this.repository.findById) throw new Error('this key store cannot look keys up by id');
    return this.repository.findById(id);
  }

  /** Revokes exactly the key with this id (the admin API and self-service use ids, never names). */
  async revokeById(id: string): Promise<RevokeResult | undefined> {
    if (!this.repository.revokeById) throw new Error('this key store cannot revoke by id');
    const result = await this.repository.revokeById(id, toTimestamp(this.clock.now()));
    this.forget(id);
    if (result) await this.publish(id);
    return result;
  }

  /** Revokes by id, name or prefix; undefined when nothing matches. Takes effect at once in this process. */
  async revoke(ref: string): Promise<RevokeResult | undefined> {
    const result = await this.repository.revoke(ref, toTimestamp(this.clock.now()));
    // Lookups that read the database before the update finished must not cache what they read.
    if (result) this.forget(result.record.id);
    else this.revocationCount += 1;
    if (result) await this.publish(result.record.id);
    return result;
  }

  /** The revocation is in the database already: when Redis is down, other replicas notice within the cache TTL. */
  private async publish(id: string): Promise<void> {
    try {
      await this.revocations.publishKeyRevoked(id);
    } catch (error) {
      this.warn('could not tell other replicas about a revoked API key', { key: id, error: String(error) });
    }
  }

  private forget(id: string): void {
    this.revocationCount += 1;
    for (const [hash, entry] of this.cache) if (entry.record.id === id) this.cache.delete(hash);
  }

  private forgetAll(): void {
    this.revocationCount += 1;
    this.cache.clear();
  }

  /** Writes `last_used_at` for the keys verified since the last write. */
  async flushLastUsed(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    if (this.pendingTouches.size === 0) return;
    const ids = [...this.pendingTouches];
    this.pendingTouches.clear();
    try {
      await this.repository.touchLastUsed(ids, toTimestamp(this.clock.now()));
    } catch (error) {
      this.warn('could not record when API keys were last used', { keys: ids.length, error: String(error) });
    }
  }

  async close(): Promise<void> {
    await this.flushLastUsed();
  }

  private isUsable(record: ApiKeyRecord, nowMs: number): boolean {
    return record.revokedAt === null && (record.expiresAt === null || Date.parse(record.expiresAt) > nowMs);
  }

  private fromCache(hash: string, nowMs: number): ApiKeyRecord | undefined {
    const entry = this.cache.get(hash);
    if (!entry) return undefined;
    this.cache.delete(hash);
    if (entry.cachedUntilMs <= nowMs) return undefined;
    this.cache.set(hash, entry);
    return entry.record;
  }

  /** One database query per hash however many requests wait for it. */
  private lookup(hash: string): Promise<ApiKeyRecord | undefined> {
    let pending = this.lookups.get(hash);
    if (!pending) {
      const revocationsAtStart = this.revocationCount;
      pending = this.repository.findByHash(hash).then((record) => {
        if (record && revocationsAtStart === this.revocationCount) this.remember(hash, record);
        return record;
      }).finally(() => this.lookups.delete(hash));
      this.lookups.set(hash, pending);
    }
    return pending;
  }

  private remember(hash: string, record: ApiKeyRecord): void {
    this.cache.set(hash, { record, cachedUntilMs: this.clock.now() + this.cacheTtlMs });
    while (this.cache.size > this.cacheMaxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  private markUsed(id: string): void {
    this.pendingTouches.add(id);
    if (!this.touchTimer) {
      this.touchTimer = setTimeout(() => void this.flushLastUsed(), this.touchIntervalMs);
      this.touchTimer.unref();
    }
  }
}
