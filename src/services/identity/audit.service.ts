import { systemClock, type Clock } from '../../lib/clock.js';
import type { AuditRecord, AuditRepository } from '../../store/audit.repository.js';
import { toTimestamp } from '../../store/database.js';

/** Who did an admin action: `user:<id>`, `key:<id>` or `cli:<os user>`. */
export type Actor = string;

/** The audit log: every admin action, who did it, to what. Never holds secrets. */
export class AuditService {
  private readonly clock: Clock;

  constructor(private readonly repository: Pick<AuditRepository, 'insert' | 'list'>, options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  record(actor: Actor, action: string, target?: { type: string; id: string }, details?: Record<string, unknown>): Promise<void> {
    return this.repository.insert({
      createdAt: toTimestamp(this.clock.now()), actor, action, targetType: target?.type ?? null, targetId: target?.id ?? null, details: details ?? null,
    });
  }

  list(options: { since?: string; limit?: number; targetId?: string } = {}): Promise<AuditRecord[]> {
    return this.repository.list(options);
  }
}
