import { FlexiError } from '../../core/errors.js';
import type { TemplateDefinition, TemplateRecord, TemplateVersionRecord } from '../../core/templates.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { GroupRecord, GroupRepository } from '../../store/group.repository.js';
import type { TemplateRepository } from '../../store/template.repository.js';
import type { AuditService } from '../identity/audit.service.js';
import type { Principal } from '../identity/access-control.service.js';
import { assertTemplateName, nameTaken, validateDefinition } from './template-text.js';

/**
 * Who manages templates: an admin (every template), or a user through the groups they own
 * (that group's templates only). `label` is how the audit log and the version history name them.
 */
export interface TemplateActor {
  label: string;
  admin: boolean;
  userId?: string;
}

/** A template with its owning group's name (null: global). */
export interface TemplateView extends TemplateRecord {
  groupName: string | null;
}

export interface TemplateServiceDeps {
  templates: TemplateRepository;
  groups: GroupRepository;
  audit: AuditService;
  /** Whether the principal's role (and key) may use a real model. */
  isModelAllowed: (principal: Principal, model: string) => boolean;
  clock?: Clock;
}

/** The actor of a request to the template API. */
export function templateActorOf(principal: Principal): TemplateActor {
  const label = principal.userId ? `user:${principal.userId}` : `key:${principal.apiKeyId ?? 'anonymous'}`;
  return { label, admin: principal.policy.admin, userId: principal.userId };
}

/**
 * Prompt templates: saved with a checked definition and a version history; managed by admins
 * and by a group's owners; used (as `template:<name>`) by whoever may see them — see
 * `TemplateModels` for the use, this class for the rules of both.
 */
export class TemplateService {
  private readonly clock: Clock;

  constructor(private readonly deps: TemplateServiceDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The groups whose templates `principal` may use: its user's memberships and the course it acts for. */
  async usableGroupIds(principal: Principal): Promise<Set<string>> {
    const ids = new Set<string>();
    if (principal.userId) for (const group of await this.deps.groups.groupsOf(principal.userId)) ids.add(group.id);
    if (principal.course) ids.add(principal.course.id);
    return ids;
  }

  /** Whether `principal` may use `template` (its group, or global; and its model in either case). */
  mayUse(principal: Principal, template: TemplateRecord, groupIds: ReadonlySet<string>): boolean {
    if (!this.deps.isModelAllowed(principal, template.definition.model) && !principal.policy.admin) return false;
    return template.groupId === null || principal.policy.admin || groupIds.has(template.groupId);
  }

  /** The templates `principal` may use, by name. */
  async usable(principal: Principal): Promise<TemplateView[]> {
    const groupIds = await this.usableGroupIds(principal);
    const all = principal.policy.admin ? await this.deps.templates.list() : await this.deps.templates.list({ groupIds: [null, ...groupIds] });
    return this.withGroupNames(all.filter((template) => this.mayUse(principal, template, groupIds)));
  }

  /** The template `principal` may use, or model_not_found (never 403: nobody learns it exists). */
  async getUsable(principal: Principal, name: string): Promise<TemplateRecord> {
    const template = await this.deps.templates.findByName(name);
    // A global template needs no look-up of the caller's groups (the common call stays one query).
    const groupIds = template?.groupId ? await this.usableGroupIds(principal) : new Set<string>();
    if (!template || !this.mayUse(principal, template, groupIds)) {
      throw new FlexiError('model_not_found', `The model 'template:${name}' does not exist.`, { param: 'model' });
    }
    return template;
  }

  /** Templates an actor manages: every one for admins (or one group's), else those of `group` if they own it. */
  async list(actor: TemplateActor, options: { group?: string } = {}): Promise<TemplateView[]> {
    if (options.group === undefined) {
      if (!actor.admin) throw new FlexiError('permission_denied', 'Listing every template needs an admin role; group owners list their group\'s.');
      return this.withGroupNames(await this.deps.templates.list());
    }
    const group = await this.managedGroup(actor, options.group);
    return this.withGroupNames(await this.deps.templates.list({ groupIds: [group.id] }));
  }

  async show(actor: TemplateActor, name: string): Promise<TemplateView & { versions: TemplateVersionRecord[] }> {
    const template = await this.managed(actor, name);
    const [view] = await this.withGroupNames([template]);
    return { ...view!, versions: await this.deps.templates.versions(template.id) };
  }

  /** A new template; `group` (id or name) makes it the group's, and a non-admin must own that group. */
  async create(actor: TemplateActor, input: { name: string; group?: string | null; definition: TemplateDefinition }): Promise<TemplateView> {
    assertTemplateName(input.name);
    validateDefinition(input.definition);
    let group: GroupRecord | undefined;
    if (input.group !== undefined && input.group !== null) group = await this.managedGroup(actor, input.group);
    else if (!actor.admin) throw new FlexiError('permission_denied', 'Global templates need an admin role; give the template a group you own.', { param: 'group' });
    if (await this.deps.templates.findByName(input.name)) throw nameTaken(input.name);
    let template: TemplateRecord;
    try {
      template = await this.deps.templates.create({
        name: input.name, groupId: group?.id ?? null, definition: input.definition, now: this.now(),
      });
    } catch (error) {
      // Two creators at once: the unique index decides.
      if (await this.deps.templates.findByName(input.name)) throw nameTaken(input.name);
      throw error;
    }
    await this.deps.audit.record(actor.label, 'template.create', { type: 'template', id: template.id }, { name: template.name, group: group?.name ?? null });
    return { ...template, groupName: group?.name ?? null };
  }

  /** Saves a new version. `expectedVersion`, when given, must be the current one (409 otherwise). */
  async update(actor: TemplateActor, name: string, input: { definition: TemplateDefinition; expectedVersion?: number }): Promise<TemplateView> {
    const template = await this.managed(actor, name);
    validateDefinition(input.definition);
    const expected = input.expectedVersion ?? template.version;
    if (expected !== template.version) throw this.stale(name, template.version);
    const updated = await this.deps.templates.update(template.id, { expectedVersion: expected, definition: input.definition, now: this.now() });
    if (!updated) throw this.stale(name, template.version + 1);
    await this.deps.audit.record(actor.label, 'template.update', { type: 'template', id: template.id }, { name, version: updated.version });
    const [view] = await this.withGroupNames([updated]);
    return view!;
  }

  async remove(actor: TemplateActor, name: string): Promise<TemplateRecord> {
    const template = await this.managed(actor, name);
    await this.deps.templates.delete(template.id);
    await this.deps.audit.record(actor.label, 'template.delete', { type: 'template', id: template.id }, { name });
    return template;
  }

  /** The group `ref` names, if the actor may manage its templates (admins: any group; else its owners). */
  async managedGroup(actor: TemplateActor, ref: string): Promise<GroupRecord> {
    const group = await this.deps.groups.find(ref);
    if (group && (actor.admin || (actor.userId !== undefined && await this.owns(actor.userId, group.id)))) return group;
    // The same answer for a group that does not exist and one the actor does not own.
    throw new FlexiError('not_found', `No group '${ref.slice(0, 200)}' whose templates you manage.`, { param: 'group' });
  }

  /** A template the actor manages, else not_found (a template of another group looks absent). */
  private async managed(actor: TemplateActor, name: string): Promise<TemplateRecord> {
    const template = await this.deps.templates.findByName(name);
    if (template) {
      if (actor.admin) return template;
      if (template.groupId !== null && actor.userId !== undefined && await this.owns(actor.userId, template.groupId)) return template;
    }
    throw new FlexiError('not_found', `No template '${name.slice(0, 200)}' that you manage.`, { param: 'name' });
  }

  private async owns(userId: string, groupId: string): Promise<boolean> {
    return (await this.deps.groups.groupsOf(userId)).some((group) => group.id === groupId && group.role === 'owner');
  }

  private async withGroupNames(templates: TemplateRecord[]): Promise<TemplateView[]> {
    const names = new Map<string, string>();
    for (const id of new Set(templates.flatMap((t) => (t.groupId === null ? [] : [t.groupId])))) {
      const group = await this.deps.groups.find(id);
      if (group) names.set(id, group.name);
    }
    return templates.map((template) => ({ ...template, groupName: template.groupId === null ? null : names.get(template.groupId) ?? null }));
  }

  private stale(name: string, current: number): FlexiError {
    return new FlexiError('conflict', `The template '${name}' changed meanwhile (now version ${current}); load it again and edit that.`, { param: 'version' });
  }

  private now(): string {
    return toTimestamp(this.clock.now());
  }
}
