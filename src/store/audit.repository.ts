import type { Kysely } from 'kysely';
import type { Database } from './database.js';

export interface AuditEntry {
  createdAt: string;
  actor: string;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown> | null;
}

export class AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(entry: AuditEntry): Promise<void> {
    await this.db.insertInto('audit_log').values({
      created_at: entry.createdAt,
      actor: entry.actor,
      action: entry.action,
      target_type: entry.targetType ?? null,
      target_id: entry.targetId ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
    }).execute();
  }

  /** Newest first. */
  async list(options: { since?: string; limit?: number; targetId?: string } = {}): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (options.since) query = query.where('created_at', '>=', options.since);
    if (options.targetId) query = query.where('target_id', '=', options.targetId);
    const rows = await query.orderBy('id', 'desc').limit(options.limit ?? 100).execute();
    return rows.map((r) => ({
      id: Number(r.id), createdAt: r.created_at, actor: r.actor, action: r.action, targetType: r.target_type, targetId: r.target_id,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
    }));
  }
}
