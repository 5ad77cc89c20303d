import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/schema.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import { toTimestamp } from '../../store/database.js';
import type { PersonalDataRepository, PersonalOwner, Row } from '../../store/personal-data.repository.js';
import type { UserRecord } from '../../core/identity-records.js';
import type { ApiKeyService } from '../identity/api-key.service.js';
import type { Actor, AuditService } from '../identity/audit.service.js';
import type { UserService } from '../identity/user.service.js';
import { isSealed, openSealed } from '../chat-crypto.js';
import { scrubString, scrubValue } from './audit-scrub.js';
import { PERSONAL_DATA_CLASSES, type PersonalDataClass } from './data-classes.js';

const DAY_MS = 86_400_000;
export const EXPORT_FORMAT = 'flexi.personal-data-export';

export interface PrivacyServiceDeps {
  repository: PersonalDataRepository;
  users: Pick<UserService, 'get' | 'setDisabled' | 'list'>;
  /** Revoking through the key service ends cached verifications in this process at once. */
  keys?: Pick<ApiKeyService, 'revokeById'>;
  audit: Pick<AuditService, 'record'>;
  pseudonym: (userId: string) => string;
  retention: Config['privacy']['retention'];
  /** PostgreSQL: `VACUUM` or `VACUUM FULL` of the tables an erasure touched. */
  eraseVacuum: Config['privacy']['erase_vacuum'];
  /** Roles whose accounts retention never erases (admins: a deployment must not lock itself out). */
  keptRoles: readonly string[];
  /** Whether the account with this e-mail signs in with a password (erasure then asks for it). */
  hasPassword: (email: string) => Promise<boolean>;
  /** Writes buffered usage records, so the erased user's last requests are re-keyed too. */
  flushUsage?: () => Promise<void>;
  classes?: readonly PersonalDataClass[];
  clock?: Clock;
}

export interface PersonalDataExport {
  format: typeof EXPORT_FORMAT;
  version: 1;
  exported_at: string;
  user: { id: string; email: string; display_name: string | null };
  /** What each class is, why it is kept and for how long (days; null: while the account exists). */
  classes: Record<string, { category: string; data: string; purpose: string; retention_days: number | null }>;
  data: Record<string, Row[]>;
}

export interface EraseResult {
  /** Opaque reference that replaces the user in the audit log; hand it to whoever asked for the erasure. */
  reference: string;
  /** Rows deleted, re-keyed or scrubbed per class. */
  rows: Record<string, number>;
}

export interface PurgeClassResult {
  class: string;
  retention: string;
  /** null: kept (no period configured). */
  days: number | null;
  /** Rows older than this went (or would go). */
  cutoff: string | null;
  rows: number;
}

export interface PurgeResult {
  at: string;
  dryRun: boolean;
  classes: PurgeClassResult[];
  /** Usage rows whose pseudonym belonged to no current user and got a random one. */
  unlinkedUsageSubjects: number;
}

/**
 * The rights of the user (export, erasure) and retention, all driven by the registry of
 * personal-data classes. Every export and erasure is audited under an opaque reference that
 * holds none of the erased data.
 */
export class PrivacyService {
  private readonly classes: readonly PersonalDataClass[];
  private readonly clock: Clock;

  constructor(private readonly deps: PrivacyServiceDeps) {
    this.classes = deps.classes ?? PERSONAL_DATA_CLASSES;
    this.clock = deps.clock ?? systemClock;
  }

  /** The registry's classes whose tables exist in this database. */
  async installedClasses(): Promise<PersonalDataClass[]> {
    const tables = new Set(await this.deps.repository.listTables());
    const missing = this.classes.filter((c) => !c.optional && !tables.has(c.table));
    if (missing.length > 0) throw new Error(`tables of personal data are missing: ${missing.map((c) => c.table).join(', ')} (is the database migrated?)`);
    return this.classes.filter((c) => tables.has(c.table));
  }

  /** Catalog tables with a `user_id` column that no class covers: personal data nobody exports or erases. */
  async uncoveredTables(): Promise<string[]> {
    const covered = new Set(this.classes.map((c) => c.table));
    const out: string[] = [];
    for (const table of await this.deps.repository.listTables()) {
      if (covered.has(table)) continue;
      if ((await this.deps.repository.listColumns(table)).includes('user_id')) out.push(table);
    }
    return out;
  }

  hasPassword(email: string): Promise<boolean> {
    return this.deps.hasPassword(email);
  }

  private ownerOf(user: UserRecord): PersonalOwner {
    return { userId: user.id, pseudonym: this.deps.pseudonym(user.id) };
  }

  /** Everything stored about a user (by id or e-mail), machine-readable; audited. */
  /**
   * Everything stored about a user. `chatKey`: the key the user's own session holds (encrypted
   * chats): their chat text is exported readable; without it (an administrator's export) it stays
   * sealed, as it is stored.
   */
  async exportUser(actor: Actor, ref: string, options: { chatKey?: Buffer } = {}): Promise<PersonalDataExport> {
    const user = await this.deps.users.get(ref);
    const owner = this.ownerOf(user);
    const classes: PersonalDataExport['classes'] = {};
    const data: PersonalDataExport['data'] = {};
    const open = options.chatKey ? opener(options.chatKey, user.id) : undefined;
    for (const c of await this.installedClasses()) {
      classes[c.name] = { category: c.category, data: c.data, purpose: c.purpose, retention_days: c.retention ? (this.deps.retention[c.retention] || null) : null };
      const rows = await this.deps.repository.rowsOf(c, owner);
      data[c.name] = open ? rows.map(open) : rows;
    }
    await this.deps.audit.record(actor, 'privacy.export', { type: 'user', id: user.id }, {
      rows: Object.fromEntries(Object.entries(data).map(([name, rows]) => [name, rows.length])),
    });
    return {
      format: EXPORT_FORMAT, version: 1, exported_at: toTimestamp(this.clock.now()),
      user: { id: user.id, email: user.email, display_name: user.displayName }, classes, data,
    };
  }

  /** How many rows erasing the user would touch per class; changes nothing. */
  async previewErase(ref: string): Promise<{ user: UserRecord; rows: Record<string, number> }> {
    const user = await this.deps.users.get(ref);
    const owner = this.ownerOf(user);
    const rows: Record<string, number> = {};
    for (const c of await this.installedClasses()) rows[c.name] = (await this.deps.repository.rowsOf(c, owner)).length;
    return { user, rows };
  }

  /**
   * Erases a user and everything linked to them: owned rows are deleted; usage rows keep their
   * numbers under a random subject nothing maps back; audit entries keep what happened but
   * name the user only by an opaque reference. All in one transaction; then the freed space
   * is cleared on disk (docs/security.md, "Erasure at rest").
   */
  async eraseUser(actor: Actor, ref: string): Promise<EraseResult> {
    const result = await this.eraseOne(actor, ref);
    await this.reclaimDeleted();
    return result;
  }

  /** After the commit: VACUUM cannot run in a transaction, and the WAL checkpoint must see the deletes. */
  private async reclaimDeleted(): Promise<void> {
    const tables = (await this.installedClasses()).map((c) => c.table);
    await this.deps.repository.reclaimDeleted(tables, this.deps.eraseVacuum);
  }

  private async eraseOne(actor: Actor, ref: string): Promise<EraseResult> {
    const user = await this.deps.users.get(ref);
    const owner = this.ownerOf(user);
    const classes = await this.installedClasses();
    const repository = this.deps.repository;
    const keysClass = classes.find((c) => c.table === 'api_keys');
    const keyIds = keysClass ? await repository.valuesOf(keysClass, owner, 'id') : [];
    // Key names are free text ("laptop"), shared by other users' keys: scrubbed only in the audit rows about these keys.
    const keyNames = keysClass ? await repository.valuesOf(keysClass, owner, 'name') : [];
    // Stop new requests first: this process forgets cached users and keys now, other replicas within their cache time.
    await this.deps.users.setDisabled(user.id, true);
    for (const id of keyIds) await this.deps.keys?.revokeById(id);
    await this.deps.flushUsage?.();

    const needles = new Set<string>([`user:${user.id}`]);
    for (const c of classes) {
      for (const column of c.identifiers ?? []) for (const value of await repository.valuesOf(c, owner, column)) needles.add(value);
    }
    const reference = `erased:${randomId(16)}`;
    // Unrelated to the reference, so the audit log and the usage rows cannot be joined either.
    const subject = `x:${randomBytes(16).toString('hex')}`;
    const rows = await repository.transaction(async (trx) => {
      const counts: Record<string, number> = {};
      for (const c of classes) {
        if (c.erase === 'delete') counts[c.name] = await trx.deleteOwned(c, owner);
        else if (c.erase === 'rekey') counts[c.name] = await trx.rekeyUsage(owner.pseudonym, subject, keyIds);
        else if (c.erase === 'unlink') counts[c.name] = await trx.unlinkOwned(c, owner);
        else counts[c.name] = await this.scrubAudit(trx, user.id, [...needles], reference, { ids: keyIds, needles: keyNames });
      }
      return counts;
    });
    const self = actor === `user:${user.id}`;
    await this.deps.audit.record(self ? reference : actor, 'privacy.erase', { type: 'erased_user', id: reference }, { self, rows });
    return { reference, rows };
  }

  /**
   * Rewrites the audit rows that mention the user. `keys`: the user's API key ids and names; the
   * names (free text another user's key may share) are scrubbed only in rows about those keys.
   */
  private async scrubAudit(
    repository: PersonalDataRepository, userId: string, needles: string[], reference: string, keys: { ids: readonly string[]; needles: readonly string[] },
  ): Promise<number> {
    const rows = await repository.auditRowsMentioning([`user:${userId}`], needles, needles);
    const keyIds = new Set(keys.ids);
    let changed = 0;
    for (const row of rows) {
      const rowNeedles = typeof row.target_id === 'string' && keyIds.has(row.target_id) ? [...needles, ...keys.needles] : needles;
      const actor = row.actor === `user:${userId}` ? reference : scrubString(String(row.actor), rowNeedles, reference);
      const targetId = typeof row.target_id === 'string' ? scrubString(row.target_id, rowNeedles, reference) : null;
      let details = typeof row.details === 'string' ? row.details : null;
      if (details !== null) {
        try {
          details = JSON.stringify(scrubValue(JSON.parse(details), rowNeedles, reference));
        } catch {
          details = scrubString(details, rowNeedles, reference);
        }
      }
      if (actor === row.actor && targetId === row.target_id && details === row.details) continue;
      const targetType = targetId === reference && row.target_type === 'user' ? 'erased_user' : (row.target_type as string | null);
      await repository.updateAuditRow(Number(row.id), { actor, target_type: targetType, target_id: targetId, details });
      changed += 1;
    }
    return changed;
  }

  /**
   * Deletes (or with `dryRun` counts) what is past its retention period, class by class;
   * inactive accounts are erased like `eraseUser`. Audited when anything went.
   */
  async purge(options: { dryRun?: boolean } = {}): Promise<PurgeResult> {
    const dryRun = options.dryRun ?? false;
    const nowMs = this.clock.now();
    const classes = await this.installedClasses();
    const results: PurgeClassResult[] = [];
    for (const c of classes) {
      if (!c.retention) continue;
      const days = this.deps.retention[c.retention] || null;
      if (days === null) {
        results.push({ class: c.name, retention: c.retention, days, cutoff: null, rows: 0 });
        continue;
      }
      const cutoff = toTimestamp(nowMs - days * DAY_MS);
      results.push({ class: c.name, retention: c.retention, days, cutoff, rows: await this.purgeClass(c, classes, cutoff, dryRun) });
    }
    const unlinkedUsageSubjects = dryRun ? 0 : await this.unlinkOrphanedPseudonyms();
    const purged = Object.fromEntries(results.filter((r) => r.rows > 0).map((r) => [r.class, r.rows]));
    // Once for the whole purge, not per erased account: VACUUM FULL rewrites every table.
    if (!dryRun && (Object.keys(purged).length > 0 || unlinkedUsageSubjects > 0)) await this.reclaimDeleted();
    if (!dryRun && Object.keys(purged).length > 0) {
      await this.deps.audit.record('system:retention', 'privacy.purge', undefined, { rows: purged });
    }
    return { at: toTimestamp(nowMs), dryRun, classes: results, unlinkedUsageSubjects };
  }

  private async purgeClass(c: PersonalDataClass, classes: readonly PersonalDataClass[], cutoff: string, dryRun: boolean): Promise<number> {
    const repository = this.deps.repository;
    if (c.retention === 'inactive_accounts') {
      const kept = new Set(this.deps.keptRoles);
      const users = (await repository.inactiveUsers(cutoff)).filter((u) => !u.roles.some((r) => kept.has(r)));
      if (!dryRun) for (const user of users) await this.eraseOne('system:retention', user.id);
      return users.length;
    }
    if (c.link.kind === 'parent') {
      const { parent, column } = c.link;
      const parentClass = classes.find((p) => p.table === parent);
      const parentColumn = parentClass && (await this.agedColumn(parentClass));
      if (!parentColumn) throw new Error(`retention of ${c.name}: its parent table ${parent} has no registered age column`);
      return repository.deleteChildrenBefore(c.table, column, parent, parentColumn, cutoff, dryRun);
    }
    const column = await this.agedColumn(c);
    if (!column) throw new Error(`retention of ${c.name}: the table has none of the columns ${c.agedBy?.join(', ') ?? '(none named)'}`);
    return repository.deleteBefore(c.table, column, cutoff, dryRun);
  }

  private async agedColumn(c: PersonalDataClass): Promise<string | undefined> {
    const columns = new Set(await this.deps.repository.listColumns(c.table));
    return c.agedBy?.find((name) => columns.has(name));
  }

  /**
   * Usage rows written after an erasure (a request still in flight, another replica's buffer)
   * or under an old secret carry a pseudonym no current user has; give each a random subject.
   */
  private async unlinkOrphanedPseudonyms(): Promise<number> {
    const subjects = await this.deps.repository.usageSubjects();
    if (subjects.length === 0) return 0;
    const known = new Set((await this.deps.users.list({ limit: 10_000_000 })).map((u) => this.deps.pseudonym(u.id)));
    let count = 0;
    for (const subject of subjects) {
      if (known.has(subject)) continue;
      await this.deps.repository.rekeyUsage(subject, `x:${randomBytes(16).toString('hex')}`, []);
      count += 1;
    }
    return count;
  }
}

/** Opens the sealed values of a row (chat titles, prompts, messages, images); one it cannot open stays sealed. */
function opener(key: Buffer, userId: string): (row: Row) => Row {
  return (row) => Object.fromEntries(Object.entries(row).map(([column, value]) => {
    if (typeof value !== 'string' || !isSealed(value)) return [column, value];
    try {
      return [column, openSealed(key, value, userId).toString('utf8')];
    } catch {
      return [column, value];
    }
  }));
}
