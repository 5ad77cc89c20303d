import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/** A node's measured GPU energy over an interval (ISO 8601 UTC times). */
export interface NodeEnergyRecord {
  node: string;
  startedAt: string;
  endedAt: string;
  energyJoules: number;
  idleJoules: number;
  gpus: number;
}

/** A node's energy in one UTC hour (`YYYY-MM-DDTHH`). */
export interface NodeEnergyHour {
  node: string;
  hour: string;
  energyJoules: number;
  idleJoules: number;
  /** Most GPUs the node reported in that hour. */
  gpus: number;
  /** Seconds covered by measurements. */
  seconds: number;
}

/** Requests with measured energy, by subject, model, node and UTC hour. */
export interface RequestEnergyHour {
  subject: string | null;
  model: string;
  node: string | null;
  hour: string;
  requests: number;
  energyWh: number;
  promptTokens: number;
  completionTokens: number;
}

const ROWS_PER_STATEMENT = 1000;

/** `node_energy` and the energy columns of `usage_records`: what `flexi energy report` and the dashboard sum. */
export class EnergyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertMany(records: readonly NodeEnergyRecord[]): Promise<void> {
    if (records.length === 0) return;
    const rows = records.map((r) => ({
      node: r.node, started_at: r.startedAt, ended_at: r.endedAt, energy_joules: r.energyJoules, idle_joules: r.idleJoules, gpus: r.gpus,
    }));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) await trx.insertInto('node_energy').values(rows.slice(i, i + ROWS_PER_STATEMENT)).execute();
    });
  }

  /** Node energy per UTC hour for intervals starting in [since, until). */
  async nodeHours(since: string, until?: string): Promise<NodeEnergyHour[]> {
    const hour = sql<string>`substr(started_at, 1, 13)`;
    let query = this.db.selectFrom('node_energy')
      .select((eb) => [
        'node', hour.as('hour'),
        eb.fn.sum<number>('energy_joules').as('energy_joules'),
        eb.fn.sum<number>('idle_joules').as('idle_joules'),
        eb.fn.max<number>('gpus').as('gpus'),
      ])
      .where('started_at', '>=', since);
    if (until) query = query.where('started_at', '<', until);
    const rows = await query.groupBy(['node', hour]).orderBy(hour).orderBy('node').execute();
    const spans = await this.spans(since, until);
    return rows.map((r) => ({
      node: r.node, hour: r.hour, energyJoules: Number(r.energy_joules), idleJoules: Number(r.idle_joules), gpus: Number(r.gpus),
      seconds: spans.get(`${r.node} ${r.hour}`) ?? 0,
    }));
  }

  /** Seconds measured per node and hour (summed in code: interval arithmetic on text times differs per dialect). */
  private async spans(since: string, until?: string): Promise<Map<string, number>> {
    let query = this.db.selectFrom('node_energy').select(['node', 'started_at', 'ended_at']).where('started_at', '>=', since);
    if (until) query = query.where('started_at', '<', until);
    const out = new Map<string, number>();
    for (const r of await query.execute()) {
      const key = `${r.node} ${r.started_at.slice(0, 13)}`;
      out.set(key, (out.get(key) ?? 0) + Math.max(0, Date.parse(r.ended_at) - Date.parse(r.started_at)) / 1000);
    }
    return out;
  }

  /** Energy and tokens of requests that carry an energy figure, created in [since, until). */
  async requestHours(since: string, until?: string): Promise<RequestEnergyHour[]> {
    const hour = sql<string>`substr(created_at, 1, 13)`;
    let query = this.db.selectFrom('usage_records')
      .select((eb) => [
        'subject', 'model', 'node', hour.as('hour'),
        eb.fn.countAll<number>().as('requests'),
        eb.fn.sum<number>('energy_wh').as('energy_wh'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
      ])
      .where('created_at', '>=', since)
      .where('energy_wh', 'is not', null);
    if (until) query = query.where('created_at', '<', until);
    const rows = await query.groupBy(['subject', 'model', 'node', hour]).execute();
    return rows.map((r) => ({
      subject: r.subject, model: r.model, node: r.node, hour: r.hour, requests: Number(r.requests), energyWh: Number(r.energy_wh),
      promptTokens: Number(r.prompt_tokens), completionTokens: Number(r.completion_tokens),
    }));
  }

  /** A subject's attributed energy (Wh) and requests with energy since `since` (the user's own page). */
  async sumForSubject(subject: string, since: string): Promise<{ energyWh: number; requests: number }> {
    const row = await this.db.selectFrom('usage_records')
      .select((eb) => [eb.fn.sum<number>('energy_wh').as('energy_wh'), eb.fn.count<number>('energy_wh').as('requests')])
      .where('subject', '=', subject)
      .where('created_at', '>=', since)
      .executeTakeFirst();
    return { energyWh: Number(row?.energy_wh ?? 0), requests: Number(row?.requests ?? 0) };
  }
}
