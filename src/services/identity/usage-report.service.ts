import type { ApiKeyRecord, UserRecord } from '../../core/identity-records.js';
import type { UsageDaySummary } from '../../store/usage.repository.js';

export const USAGE_DIMENSIONS = ['user', 'role', 'group', 'model', 'day'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

export interface UsageRow {
  /** The e-mail (user), role, group name, model or UTC day; `(none)` / `key:<id>` where nothing maps. */
  key: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** One subject's requests for one model on one day, and the group they were made for (if any). */
type UsageSummary = UsageDaySummary & { subject: string | null; groupId: string | null };

export interface UsageReportSources {
  summarizeBySubject(since: string, until?: string): Promise<UsageSummary[]>;
  listUsers(): Promise<UserRecord[]>;
  listKeys(): Promise<ApiKeyRecord[]>;
  membershipsByUser(): Promise<Map<string, string[]>>;
  /** Group id → name. */
  groupNames(): Promise<Map<string, string>>;
  pseudonym(userId: string): string;
}

/**
 * Usage by user, role, group, model or day. Records hold only pseudonyms; the report maps them
 * back by computing every user's pseudonym (admins only: it needs the secret). A user with
 * several roles or groups counts once in each. By group, a request made for a group (a course
 * bot's question, a key acting for a course) counts for that group only.
 */
export class UsageReportService {
  constructor(private readonly sources: UsageReportSources) {}

  async report(by: UsageDimension, since: string, until?: string): Promise<UsageRow[]> {
    const summaries = await this.sources.summarizeBySubject(since, until);
    const keysOf = await this.groupingFor(by);
    const rows = new Map<string, UsageRow>();
    for (const summary of summaries) {
      for (const key of keysOf(summary)) {
        let row = rows.get(key);
        if (!row) rows.set(key, (row = { key, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0 }));
        row.requests += summary.requests;
        row.errors += summary.errors;
        row.promptTokens += summary.promptTokens;
        row.completionTokens += summary.completionTokens;
        row.totalTokens += summary.promptTokens + summary.completionTokens;
      }
    }
    const sorted = [...rows.values()];
    return by === 'day' ? sorted.sort((a, b) => a.key.localeCompare(b.key)) : sorted.sort((a, b) => b.totalTokens - a.totalTokens || a.key.localeCompare(b.key));
  }

  private async groupingFor(by: UsageDimension): Promise<(s: UsageSummary) => string[]> {
    if (by === 'model') return (s) => [s.model];
    if (by === 'day') return (s) => [s.day];
    const users = await this.sources.listUsers();
    const bySubject = new Map(users.map((user) => [this.sources.pseudonym(user.id), user]));
    const userOf = (subject: string | null) => (subject ? bySubject.get(subject) : undefined);
    if (by === 'user') return (s) => [userOf(s.subject)?.email ?? s.subject ?? '(none)'];
    if (by === 'group') {
      const [memberships, groupNames] = await Promise.all([this.sources.membershipsByUser(), this.sources.groupNames()]);
      return (s) => {
        if (s.groupId) return [groupNames.get(s.groupId) ?? `group:${s.groupId}`];
        const user = userOf(s.subject);
        const groups = user ? memberships.get(user.id) : undefined;
        return groups && groups.length > 0 ? groups : ['(none)'];
      };
    }
    const keyRoles = new Map((await this.sources.listKeys()).map((key) => [`key:${key.id}`, key.role ?? 'admin']));
    return (s) => {
      const user = userOf(s.subject);
      if (user) return user.roles.length > 0 ? user.roles : ['(none)'];
      return [(s.subject && keyRoles.get(s.subject)) ?? '(none)'];
    };
  }
}

function csvCell(value: string | number): string {
  const text = String(value);
  // Quote where needed, and defuse spreadsheet formulas in free text (e-mails, names).
  const safe = /^[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function usageToCsv(by: UsageDimension, rows: readonly UsageRow[]): string {
  const lines = [[by, 'requests', 'errors', 'prompt_tokens', 'completion_tokens', 'total_tokens'].join(',')];
  for (const r of rows) lines.push([r.key, r.requests, r.errors, r.promptTokens, r.completionTokens, r.totalTokens].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

export function usageToJson(rows: readonly UsageRow[], by: UsageDimension) {
  return rows.map((r) => ({
    [by]: r.key, requests: r.requests, errors: r.errors, prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.totalTokens,
  }));
}
