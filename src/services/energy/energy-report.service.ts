import type { EnergyFiguresJson, EnergyReportJson } from '../../api/energy.js';
import type { ApiKeyRecord, UserRecord } from '../../core/identity-records.js';
import type { NodeEnergyHour, RequestEnergyHour } from '../../store/energy.repository.js';
import { co2GramsOf, costOf, type EnergyPricing } from '../../telemetry/energy-price.js';

export const ENERGY_DIMENSIONS = ['node', 'model', 'role', 'group', 'day'] as const;
export type EnergyDimension = (typeof ENERGY_DIMENSIONS)[number];

/** What every figure of the report covers. */
export const ENERGY_SCOPE = 'GPU board power only (nvidia-smi/NVML or DCGM): no host CPU, RAM, cooling or PUE';

/**
 * The paper's figures (src/lab/data/paper/README.md): 8 GPUs of server A used 26.7 kWh in 5 days; the theoretical
 * maximum is about 44.16 kWh a day (16 MWh a year), about 5,000 € a year at 0.30 €/kWh and 6 t CO2 at 380 g/kWh.
 */
export const PAPER_ENERGY = {
  gpus: 8,
  days: 5,
  measuredKwh: 26.7,
  maxKwhPerDay: 44.16,
  pricePerKwh: 0.3,
  co2GramsPerKwh: 380,
} as const;

export interface EnergyFigures {
  energyWh: number;
  costAmount: number;
  co2Grams: number;
  requests: number;
  tokens: number;
  /** Tokens (prompt + completion) per kWh; undefined without energy. */
  tokensPerKwh?: number;
}

export interface EnergyRow extends EnergyFigures {
  key: string;
  /** Node and day rows: the part of `energyWh` no request ran in. */
  idleWh?: number;
}

export interface EnergyTotals extends EnergyFigures {
  idleWh: number;
  /** Energy carried by usage records (the rest is idle, or records still held when the report ran). */
  attributedWh: number;
  /** GPUs × measured time, in days. */
  gpuDays: number;
  /** Longest time any node was measured, seconds. */
  measuredSeconds: number;
}

export interface PaperComparison {
  deployment: { kwhPerGpuDay?: number; kwhPerYear?: number; costPerYear?: number; co2KgPerYear?: number };
  paper: { kwhPerGpuDay: number; kwhPerYearMeasuredRate: number; kwhPerYearMax: number; costPerYearMax: number; co2KgPerYearMax: number };
}

export interface EnergyReport {
  since: string;
  until?: string;
  by: EnergyDimension;
  idle: 'apart' | 'spread';
  pricing: EnergyPricing;
  scope: string;
  total: EnergyTotals;
  rows: EnergyRow[];
  compare?: PaperComparison;
}

export interface EnergyReportSources {
  nodeHours(since: string, until?: string): Promise<NodeEnergyHour[]>;
  requestHours(since: string, until?: string): Promise<RequestEnergyHour[]>;
  listUsers(): Promise<UserRecord[]>;
  listKeys(): Promise<ApiKeyRecord[]>;
  membershipsByUser(): Promise<Map<string, string[]>>;
  pseudonym(userId: string): string;
  sumForSubject(subject: string, since: string): Promise<{ energyWh: number; requests: number }>;
}

export const IDLE_KEY = '(idle)';

const hourMs = (hour: string) => Date.parse(`${hour}:00:00.000Z`);

/** kWh, cost, CO2 and tokens per kWh by node, model, role, group or day; `compare` adds the paper's figures. */
export class EnergyReportService {
  constructor(private readonly sources: EnergyReportSources, private readonly settings: { pricing: EnergyPricing; idle: 'apart' | 'spread' }) {}

  async report(options: { by: EnergyDimension; since: string; until?: string; compare?: boolean }): Promise<EnergyReport> {
    const { by, since, until } = options;
    const [nodes, requests] = await Promise.all([this.sources.nodeHours(since, until), this.sources.requestHours(since, until)]);
    const pricing = this.settings.pricing;
    const total = this.totals(nodes, requests);
    const rows = by === 'node' || by === 'day' ? this.measuredRows(by, nodes, requests) : await this.requestRows(by, nodes, requests);
    const report: EnergyReport = { since, until, by, idle: this.settings.idle, pricing, scope: ENERGY_SCOPE, total, rows };
    if (options.compare) report.compare = compareWithPaper(total, pricing);
    return report;
  }

  /** A user's own energy (by their pseudonymous subject) since `since`: attributed only, idle never. */
  async own(subject: string, since: string): Promise<{ energyWh: number; co2Grams: number; requests: number }> {
    const { energyWh, requests } = await this.sources.sumForSubject(subject, since);
    return { energyWh, co2Grams: co2GramsOf(this.settings.pricing, energyWh), requests };
  }

  private totals(nodes: readonly NodeEnergyHour[], requests: readonly RequestEnergyHour[]): EnergyTotals {
    const pricing = this.settings.pricing;
    const figures = emptyFigures();
    let idleWh = 0;
    let gpuSeconds = 0;
    const secondsByNode = new Map<string, number>();
    for (const h of nodes) {
      const wh = h.energyJoules / 3600;
      figures.energyWh += wh;
      figures.costAmount += costOf(pricing, wh, hourMs(h.hour));
      idleWh += h.idleJoules / 3600;
      gpuSeconds += h.gpus * h.seconds;
      secondsByNode.set(h.node, (secondsByNode.get(h.node) ?? 0) + h.seconds);
    }
    let attributedWh = 0;
    for (const r of requests) {
      attributedWh += r.energyWh;
      figures.requests += r.requests;
      figures.tokens += r.promptTokens + r.completionTokens;
    }
    return {
      ...finish(figures, pricing), idleWh, attributedWh, gpuDays: gpuSeconds / 86_400, measuredSeconds: Math.max(0, ...secondsByNode.values()),
    };
  }

  /** By node or day: the measured energy (idle included), with the tokens of the requests there. */
  private measuredRows(by: 'node' | 'day', nodes: readonly NodeEnergyHour[], requests: readonly RequestEnergyHour[]): EnergyRow[] {
    const pricing = this.settings.pricing;
    const rows = new Map<string, EnergyRow>();
    const row = (key: string) => rows.get(key) ?? rows.set(key, { key, ...emptyFigures(), idleWh: 0 }).get(key)!;
    for (const h of nodes) {
      const r = row(by === 'node' ? h.node : h.hour.slice(0, 10));
      const wh = h.energyJoules / 3600;
      r.energyWh += wh;
      r.idleWh = (r.idleWh ?? 0) + h.idleJoules / 3600;
      r.costAmount += costOf(pricing, wh, hourMs(h.hour));
    }
    for (const q of requests) {
      const r = row(by === 'node' ? q.node ?? '(none)' : q.hour.slice(0, 10));
      r.requests += q.requests;
      r.tokens += q.promptTokens + q.completionTokens;
    }
    return sortRows(by, [...rows.values()].map((r) => ({ ...r, ...finish(r, pricing) })));
  }

  /** By model, role or group: the energy of the requests; idle as a line of its own, or spread over the day's requests. */
  private async requestRows(by: 'model' | 'role' | 'group', nodes: readonly NodeEnergyHour[], requests: readonly RequestEnergyHour[]): Promise<EnergyRow[]> {
    const pricing = this.settings.pricing;
    const keysOf = await this.groupingFor(by);
    const idleByDay = new Map<string, number>();
    for (const h of nodes) idleByDay.set(h.hour.slice(0, 10), (idleByDay.get(h.hour.slice(0, 10)) ?? 0) + h.idleJoules / 3600);
    const attributedByDay = new Map<string, number>();
    for (const q of requests) attributedByDay.set(q.hour.slice(0, 10), (attributedByDay.get(q.hour.slice(0, 10)) ?? 0) + q.energyWh);
    const spread = this.settings.idle === 'spread';
    const rows = new Map<string, EnergyRow>();
    for (const q of requests) {
      const day = q.hour.slice(0, 10);
      const dayAttributed = attributedByDay.get(day) ?? 0;
      const extra = spread && dayAttributed > 0 ? (idleByDay.get(day) ?? 0) * (q.energyWh / dayAttributed) : 0;
      const wh = q.energyWh + extra;
      for (const key of keysOf(q)) {
        const r = rows.get(key) ?? rows.set(key, { key, ...emptyFigures() }).get(key)!;
        r.energyWh += wh;
        r.costAmount += costOf(pricing, wh, hourMs(q.hour));
        r.requests += q.requests;
        r.tokens += q.promptTokens + q.completionTokens;
      }
    }
    // Spread needs requests on the day; a day without any keeps its idle apart.
    const idleLeft = [...idleByDay].filter(([day]) => !spread || !(attributedByDay.get(day)! > 0));
    const idleRow: EnergyRow = { key: IDLE_KEY, ...emptyFigures() };
    for (const h of nodes) {
      if (idleLeft.some(([day]) => day === h.hour.slice(0, 10))) {
        const wh = h.idleJoules / 3600;
        idleRow.energyWh += wh;
        idleRow.costAmount += costOf(pricing, wh, hourMs(h.hour));
      }
    }
    const out = [...rows.values()].map((r) => ({ ...r, ...finish(r, pricing) }));
    if (idleRow.energyWh > 0) out.push({ ...idleRow, ...finish(idleRow, pricing), tokensPerKwh: undefined });
    return sortRows(by, out);
  }

  private async groupingFor(by: 'model' | 'role' | 'group'): Promise<(q: RequestEnergyHour) => string[]> {
    if (by === 'model') return (q) => [q.model];
    const users = await this.sources.listUsers();
    const bySubject = new Map(users.map((user) => [this.sources.pseudonym(user.id), user]));
    const userOf = (subject: string | null) => (subject ? bySubject.get(subject) : undefined);
    if (by === 'group') {
      const memberships = await this.sources.membershipsByUser();
      return (q) => {
        const user = userOf(q.subject);
        const groups = user ? memberships.get(user.id) : undefined;
        return groups && groups.length > 0 ? groups : ['(none)'];
      };
    }
    const keyRoles = new Map((await this.sources.listKeys()).map((key) => [`key:${key.id}`, key.role ?? 'admin']));
    return (q) => {
      const user = userOf(q.subject);
      if (user) return user.roles.length > 0 ? user.roles : ['(none)'];
      return [(q.subject && keyRoles.get(q.subject)) ?? '(none)'];
    };
  }
}

function emptyFigures(): EnergyFigures {
  return { energyWh: 0, costAmount: 0, co2Grams: 0, requests: 0, tokens: 0 };
}

function finish(figures: EnergyFigures, pricing: EnergyPricing): EnergyFigures {
  return {
    energyWh: figures.energyWh, costAmount: figures.costAmount, co2Grams: co2GramsOf(pricing, figures.energyWh),
    requests: figures.requests, tokens: figures.tokens,
    tokensPerKwh: figures.energyWh > 0 ? figures.tokens / (figures.energyWh / 1000) : undefined,
  };
}

function sortRows(by: EnergyDimension, rows: EnergyRow[]): EnergyRow[] {
  return by === 'day' ? rows.sort((a, b) => a.key.localeCompare(b.key)) : rows.sort((a, b) => b.energyWh - a.energyWh || a.key.localeCompare(b.key));
}

/** The deployment per GPU-day and extrapolated to a year, beside the paper's figures. */
export function compareWithPaper(total: EnergyTotals, pricing: EnergyPricing): PaperComparison {
  const kwh = total.energyWh / 1000;
  const days = total.measuredSeconds / 86_400;
  const kwhPerYear = days > 0 ? (kwh / days) * 365 : undefined;
  const p = PAPER_ENERGY;
  const paperMaxYear = p.maxKwhPerDay * 365;
  return {
    deployment: {
      kwhPerGpuDay: total.gpuDays > 0 ? kwh / total.gpuDays : undefined,
      kwhPerYear,
      costPerYear: kwhPerYear === undefined ? undefined : kwhPerYear * pricing.pricePerKwh,
      co2KgPerYear: kwhPerYear === undefined ? undefined : (kwhPerYear * pricing.co2GramsPerKwh) / 1000,
    },
    paper: {
      kwhPerGpuDay: p.measuredKwh / (p.gpus * p.days),
      kwhPerYearMeasuredRate: (p.measuredKwh / p.days) * 365,
      kwhPerYearMax: paperMaxYear,
      costPerYearMax: paperMaxYear * p.pricePerKwh,
      co2KgPerYearMax: (paperMaxYear * p.co2GramsPerKwh) / 1000,
    },
  };
}

function figuresToJson(f: EnergyFigures): EnergyFiguresJson {
  return {
    energy_wh: round(f.energyWh, 4), energy_kwh: round(f.energyWh / 1000, 7), cost: round(f.costAmount, 4), co2_g: round(f.co2Grams, 3),
    requests: f.requests, tokens: f.tokens, tokens_per_kwh: f.tokensPerKwh === undefined ? null : Math.round(f.tokensPerKwh),
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

const orNull = (value: number | undefined, digits: number) => (value === undefined ? null : round(value, digits));

export function energyReportToJson(report: EnergyReport): EnergyReportJson {
  const { total, pricing } = report;
  const json: EnergyReportJson = {
    since: report.since, until: report.until ?? null, by: report.by, scope: report.scope, idle: report.idle,
    currency: pricing.currency, price_per_kwh: pricing.pricePerKwh, co2_g_per_kwh: pricing.co2GramsPerKwh,
    total: { ...figuresToJson(total), idle_wh: round(total.idleWh, 4), attributed_wh: round(total.attributedWh, 4), gpu_days: round(total.gpuDays, 6) },
    rows: report.rows.map((r) => ({ key: r.key, ...figuresToJson(r), ...(r.idleWh === undefined ? {} : { idle_wh: round(r.idleWh, 4) }) })),
  };
  if (report.compare) {
    const { deployment: d, paper: p } = report.compare;
    json.compare = {
      deployment: { kwh_per_gpu_day: orNull(d.kwhPerGpuDay, 4), kwh_per_year: orNull(d.kwhPerYear, 1), cost_per_year: orNull(d.costPerYear, 0), co2_kg_per_year: orNull(d.co2KgPerYear, 1) },
      paper: {
        kwh_per_gpu_day: round(p.kwhPerGpuDay, 4), kwh_per_year_measured_rate: round(p.kwhPerYearMeasuredRate, 1), kwh_per_year_max: round(p.kwhPerYearMax, 1),
        cost_per_year_max: round(p.costPerYearMax, 0), co2_kg_per_year_max: round(p.co2KgPerYearMax, 1),
      },
    };
  }
  return json;
}

function csvCell(value: string | number | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  const safe = /^[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function energyReportToCsv(report: EnergyReport): string {
  const json = energyReportToJson(report);
  const header = [report.by, 'energy_kwh', 'idle_kwh', `cost_${json.currency.toLowerCase()}`, 'co2_g', 'requests', 'tokens', 'tokens_per_kwh'];
  const lines = [header.join(',')];
  for (const r of json.rows) {
    lines.push([r.key, r.energy_kwh, r.idle_wh === undefined ? '' : round(r.idle_wh / 1000, 7), r.cost, r.co2_g, r.requests, r.tokens, r.tokens_per_kwh].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}
