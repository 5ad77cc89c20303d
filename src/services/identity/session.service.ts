import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { toTimestamp } from '../../store/database.js';
import type { SessionRecord, SessionRepository } from '../../store/session.repository.js';
import type { UserRecord } from '../../core/identity-records.js';

export const SESSION_COOKIE = 'flexi_session';
export const CSRF_COOKIE = 'flexi_csrf';
export const CSRF_HEADER = 'x-csrf-token';
const TOKEN = /^[A-Za-z0-9]{43}$/;

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface ResolvedSession {
  session: SessionRecord;
  user: UserRecord;
}

/** Browser sessions: an opaque random cookie value, of which the database keeps only the hash. */
export class SessionService {
  private readonly clock: Clock;

  constructor(
    private readonly repository: Pick<SessionRepository, 'create' | 'findByHash' | 'revoke' | 'revokeAllOf'>,
    private readonly users: { findActive(id: string): Promise<UserRecord | undefined> },
    private readonly ttlMs: number,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  async create(userId: string): Promise<{ token: string; session: SessionRecord }> {
    const token = randomId(43);
    const nowMs = this.clock.now();
    const session = await this.repository.create({
      tokenHash: hashToken(token), userId, csrfToken: randomId(32), createdAt: toTimestamp(nowMs), expiresAt: toTimestamp(nowMs + this.ttlMs),
    });
    return { token, session };
  }

  /** The live session and its active user; undefined for anything else (tampered, expired, revoked, disabled). */
  async resolve(token: string | undefined): Promise<ResolvedSession | undefined> {
    if (!token || !TOKEN.test(token)) return undefined;
    const session = await this.repository.findByHash(hashToken(token));
    if (!session || session.revokedAt !== null || Date.parse(session.expiresAt) <= this.clock.now()) return undefined;
    const user = await this.users.findActive(session.userId);
    return user && { session, user };
  }

  revoke(sessionId: string): Promise<void> {
    return this.repository.revoke(sessionId, toTimestamp(this.clock.now()));
  }

  /** `except`: a session to keep (the user who changes their own password stays signed in there). */
  revokeAllOf(userId: string, options: { except?: string } = {}): Promise<void> {
    return this.repository.revokeAllOf(userId, toTimestamp(this.clock.now()), options.except);
  }
}
