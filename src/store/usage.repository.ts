import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** One finished request, as written to `usage_records`. */
export interface NewUsageRecord {
  /** ISO 8601 UTC (see src/store/README.md). */
  createdAt: string;
  requestId: string;
  apiKeyId?: string | null;
  /** Pseudonym of the user (keyed hash), never a clear identity. */
  subject?: string | null;
  endpoint: string;
  protocol: 'openai' | 'ollama';
  model: string;
  node?: string | null;
  /** HTTP status sent to the client. */
  status: number;
  errorCode?: string | null;
  promptTokens: number;
  completionTokens: number;
  ttftMs?: number | null;
  durationMs: number;
  queueMs?: number | null;
  /** The group (course) the request was made for: a course bot, a key acting for a course. */
  groupId?: string | null;
  /** GPU energy attributed to the request (Wh). */
  energyWh?: number | null;
}

/** Totals of one model on one UTC day. */
export interface UsageDaySummary {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  model: string;
  requests: number;
  /** Requests answered with status ≥ 400. */
  errors: number;
  promptTokens: number;
  completionTokens: number;
}

// 17 columns × 1000 rows stays under SQLite's 32766 and PostgreSQL's 65535 bound parameters.
const ROWS_PER_STATEMENT = 1000;

export class UsageRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Writes all records in one transaction: a failed batch writes none, so it can be retried whole. */
  async insertMany(records: readonly NewUsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const rows = records.map((r) => ({
      created_at: r.createdAt,
      request_id: r.requestId,
      api_key_id: r.apiKeyId ?? null,
      subject: r.subject ?? null,
      endpoint: r.endpoint,
      protocol: r.protocol,
      model: r.model,
      node: r.node ?? null,
      status: r.status,
      error_code: r.errorCode ?? null,
      prompt_tokens: Math.round(r.promptTokens),
      completion_tokens: Math.round(r.completionTokens),
      ttft_ms: r.ttftMs == null ? null : Math.round(r.ttftMs),
      duration_ms: Math.round(r.durationMs),
      queue_ms: r.queueMs == null ? null : Math.round(r.queueMs),
      group_id: r.groupId ?? null,
      energy_wh: r.energyWh ?? null,
    }));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        await trx.insertInto('usage_records').values(rows.slice(i, i + ROWS_PER_STATEMENT)).execute();
      }
    });
  }

  /** Requests and tokens per model and UTC day for records created at or after `since` (ISO). */
  async summarizeByModelDay(since: string): Promise<UsageDaySummary[]> {
    const day = sql<string>`substr(created_at, 1, 10)`;
    const rows = await this.db.selectFrom('usage_records')
      .select((eb) => [
        day.as('day'),
        'model',
        eb.fn.countAll<number>().as('requests'),
        eb.fn.sum<number>(eb.case().when('status', '>=', 400).then(1).else(0).end()).as('errors'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
      ])
      .where('created_at', '>=', since)
      .groupBy([day, 'model'])
      .orderBy(day)
      .orderBy('model')
      .execute();
    // Sums come back as text from PostgreSQL when they widen to numeric; Number() covers both.
    return rows.map((r) => ({
      day: r.day,
      model: r.model,
      requests: Number(r.requests),
      errors: Number(r.errors),
      promptTokens: Number(r.prompt_tokens),
      completionTokens: Number(r.completion_tokens),
    }));
  }

  /** Prompt + completion tokens a subject used since `since` (ISO): what seeds a budget counter. */
  async sumTokensSince(subject: string, since: string): Promise<number> {
    const row = await this.db.selectFrom('usage_records')
      .select((eb) => [eb.fn.sum<number>(eb('prompt_tokens', '+', eb.ref('completion_tokens'))).as('tokens')])
      .where('subject', '=', subject)
      .where('created_at', '>=', since)
      .executeTakeFirst();
    return Number(row?.tokens ?? 0);
  }

  /** Requests and tokens per subject, model and UTC day since `since` (ISO), for usage reports. */
  async summarizeBySubject(since: string, until?: string): Promise<(UsageDaySummary & { subject: string | null; groupId: string | null })[]> {
    const day = sql<string>`substr(created_at, 1, 10)`;
    let query = this.db.selectFrom('usage_records')
      .select((eb) => [
        'subject',
        'group_id',
        day.as('day'),
        'model',
        eb.fn.countAll<number>().as('requests'),
        eb.fn.sum<number>(eb.case().when('status', '>=', 400).then(1).else(0).end()).as('errors'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
      ])
      .where('created_at', '>=', since);
    if (until) query = query.where('created_at', '<', until);
    const rows = await query.groupBy(['subject', 'group_id', day, 'model']).execute();
    return rows.map((r) => ({
      subject: r.subject,
      groupId: r.group_id,
      day: r.day,
      model: r.model,
      requests: Number(r.requests),
      errors: Number(r.errors),
      promptTokens: Number(r.prompt_tokens),
      completionTokens: Number(r.completion_tokens),
    }));
  }
  /** Per model: requests, failures (status ≥ 500 or a node error) and queue waits since `since` (ISO), for `flexi checkmk`. */
  async outcomesByModel(since: string): Promise<{ model: string; requests: number; errors: number; queueMs: number[] }[]> {
    const rows = await this.db.selectFrom('usage_records')
      .select(['model', 'status', 'queue_ms'])
      .where('created_at', '>=', since)
      .execute();
    const byModel = new Map<string, { model: string; requests: number; errors: number; queueMs: number[] }>();
    for (const r of rows) {
      let m = byModel.get(r.model);
      if (!m) byModel.set(r.model, (m = { model: r.model, requests: 0, errors: 0, queueMs: [] }));
      m.requests += 1;
      if (r.status >= 500) m.errors += 1;
      if (r.queue_ms !== null) m.queueMs.push(Number(r.queue_ms));
    }
    return [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model));
  }
}
