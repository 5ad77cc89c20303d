import { FlexiError } from '../../core/errors.js';
import type { ApiKeyRecord, UserRecord } from '../../core/identity-records.js';
import { toTimestamp } from '../../store/database.js';
import type { GroupKind, GroupMemberRole, GroupRecord, GroupRepository } from '../../store/group.repository.js';
import type { ApiKeyService } from './api-key.service.js';
import type { Actor, AuditService } from './audit.service.js';
import { areScopesWithin, parseScopes, type KeyScopes, type PolicyService } from './policy.service.js';
import type { SessionService } from './session.service.js';
import type { CreateUserInput, UserService } from './user.service.js';

const GROUP_NAME = /^[\w][\w .:/-]{0,99}$/u;
const GROUP_KINDS: readonly GroupKind[] = ['course', 'institute', 'other'];
const MAX_DESCRIPTION_CHARS = 500;
const MAX_SCOPES = 50;

export interface CreateKeyInput {
  /** Owner (id or e-mail); none: an operator key with `role`'s policy. */
  user?: string;
  name: string;
  role?: string;
  scopes?: string[];
  expiresAt?: Date;
  /** Scopes of the API key that asks for this one (none for sessions and the CLI): the new key may not be wider. */
  creatorScopes?: KeyScopes;
}

export interface AdminServiceDeps {
  users: UserService;
  keys: ApiKeyService;
  groups: GroupRepository;
  audit: AuditService;
  policies: PolicyService;
  sessions?: SessionService;
  now?: () => number;
}

/**
 * Every admin action, shared by the admin API and the CLI, each written to the audit log with
 * its actor. Inputs are validated here, so both surfaces give the same 4xx messages.
 */
export class AdminService {
  constructor(readonly deps: AdminServiceDeps) {}

  private now(): string {
    return toTimestamp((this.deps.now ?? Date.now)());
  }

  async addUser(actor: Actor, input: CreateUserInput): Promise<UserRecord> {
    const user = await this.deps.users.create(input);
    await this.deps.audit.record(actor, 'user.create', { type: 'user', id: user.id }, { email: user.email, roles: user.roles, password: input.password !== undefined });
    return user;
  }

  async setRoles(actor: Actor, ref: string, roles: string[]): Promise<UserRecord> {
    const before = await this.deps.users.get(ref);
    const user = await this.deps.users.setRoles(before.id, roles);
    await this.deps.audit.record(actor, 'user.set_roles', { type: 'user', id: user.id }, { from: before.roles, to: user.roles });
    return user;
  }

  async setDisabled(actor: Actor, ref: string, disabled: boolean): Promise<UserRecord> {
    const user = await this.deps.users.setDisabled((await this.deps.users.get(ref)).id, disabled);
    if (disabled) await this.deps.sessions?.revokeAllOf(user.id);
    await this.deps.audit.record(actor, disabled ? 'user.disable' : 'user.enable', { type: 'user', id: user.id });
    return user;
  }

  async setPassword(actor: Actor, ref: string, password: string): Promise<UserRecord> {
    const user = await this.deps.users.setPassword((await this.deps.users.get(ref)).id, password);
    await this.deps.sessions?.revokeAllOf(user.id);
    await this.deps.audit.record(actor, 'user.set_password', { type: 'user', id: user.id });
    return user;
  }

  async showUser(ref: string) {
    const user = await this.deps.users.get(ref);
    const [groups, keys, identities] = await Promise.all([
      this.deps.groups.groupsOf(user.id), this.deps.keys.list({ userId: user.id }), this.deps.users.listIdentities(user.id),
    ]);
    return { user, groups, keys, identities: identities.map((i) => ({ provider: i.provider, subject: i.subject, lastLoginAt: i.lastLoginAt })) };
  }

  async createKey(actor: Actor, input: CreateKeyInput): Promise<{ key: string; record: ApiKeyRecord }> {
    let userId: string | null = null;
    if (input.user !== undefined) {
      userId = (await this.deps.users.get(input.user)).id;
      if (input.role !== undefined) throw new FlexiError('invalid_request', 'A user\'s key uses the user\'s roles; give either a user or a role.', { param: 'role' });
    }
    // An operator key gets exactly the role it is given: no default, least of all admin.
    const role = userId === null ? input.role : null;
    if (role === undefined) {
      throw new FlexiError('invalid_request', `An operator key (no user) needs a role; known roles: ${this.deps.policies.roleNames().join(', ')}.`, { param: 'role' });
    }
    if (input.role !== undefined && !this.deps.policies.hasRole(input.role)) {
      throw new FlexiError('invalid_request', `Unknown role "${input.role.slice(0, 40)}"; known roles: ${this.deps.policies.roleNames().join(', ')}.`, { param: 'role' });
    }
    const scopes = this.validateScopes(input.scopes);
    // Else a key limited to one endpoint or model could mint an unlimited one.
    if (!areScopesWithin(parseScopes(scopes), input.creatorScopes)) {
      throw new FlexiError('permission_denied', 'A key with scopes can only create keys with the same or narrower scopes; send scopes within your own.', { param: 'scopes' });
    }
    const created = await this.deps.keys.create({ name: input.name, role, userId, scopes, expiresAt: input.expiresAt ?? null });
    await this.deps.audit.record(actor, 'key.create', { type: 'api_key', id: created.record.id }, {
      name: created.record.name, prefix: created.record.prefix, user_id: userId, role: created.record.role, scopes,
    });
    return created;
  }

  validateScopes(scopes: unknown): string[] | null {
    if (scopes === undefined || scopes === null) return null;
    if (!Array.isArray(scopes) || scopes.length > MAX_SCOPES || scopes.some((s) => typeof s !== 'string')) {
      throw new FlexiError('invalid_request', `scopes must be a list of at most ${MAX_SCOPES} strings.`, { param: 'scopes' });
    }
    try {
      parseScopes(scopes as string[]);
    } catch (error) {
      throw new FlexiError('invalid_request', `${(error as Error).message}.`, { param: 'scopes' });
    }
    return scopes.length > 0 ? (scopes as string[]) : null;
  }

  async listKeys(user?: string): Promise<ApiKeyRecord[]> {
    return this.deps.keys.list(user === undefined ? {} : { userId: (await this.deps.users.get(user)).id });
  }

  /** By id (admin API) or id/name/prefix (CLI). */
  async revokeKey(actor: Actor, ref: string, options: { byIdOnly?: boolean } = {}) {
    const result = options.byIdOnly ? await this.deps.keys.revokeById(ref) : await this.deps.keys.revoke(ref);
    if (!result) throw new FlexiError('not_found', `No API key ${ref.slice(0, 100)}.`);
    if (!result.alreadyRevoked) await this.deps.audit.record(actor, 'key.revoke', { type: 'api_key', id: result.record.id }, { prefix: result.record.prefix });
    return result;
  }

  async createGroup(actor: Actor, input: { name: unknown; kind?: unknown; description?: unknown }): Promise<GroupRecord> {
    if (typeof input.name !== 'string' || !GROUP_NAME.test(input.name.trim())) {
      throw new FlexiError('invalid_request', 'name must be 1 to 100 letters, digits, spaces or . : / _ -, starting with a letter or digit.', { param: 'name' });
    }
    const kind = input.kind ?? 'course';
    if (typeof kind !== 'string' || !GROUP_KINDS.includes(kind as GroupKind)) {
      throw new FlexiError('invalid_request', `kind must be one of ${GROUP_KINDS.join(', ')}.`, { param: 'kind' });
    }
    if (input.description !== undefined && input.description !== null && (typeof input.description !== 'string' || input.description.length > MAX_DESCRIPTION_CHARS)) {
      throw new FlexiError('invalid_request', `description must be a string of at most ${MAX_DESCRIPTION_CHARS} characters.`, { param: 'description' });
    }
    const name = input.name.trim();
    if (await this.deps.groups.find(name)) throw new FlexiError('conflict', `A group named "${name}" already exists.`, { param: 'name' });
    const group = await this.deps.groups.create({ name, kind: kind as GroupKind, description: (input.description as string | undefined) ?? null, createdAt: this.now() });
    await this.deps.audit.record(actor, 'group.create', { type: 'group', id: group.id }, { name, kind });
    return group;
  }

  async getGroup(ref: string): Promise<GroupRecord> {
    const group = await this.deps.groups.find(ref);
    if (!group) throw new FlexiError('not_found', `No group ${ref.slice(0, 100)}.`);
    return group;
  }

  listGroups() {
    return this.deps.groups.list();
  }

  async showGroup(ref: string) {
    const group = await this.getGroup(ref);
    return { group, members: await this.deps.groups.listMembers(group.id) };
  }

  async deleteGroup(actor: Actor, ref: string): Promise<GroupRecord> {
    const group = await this.getGroup(ref);
    await this.deps.groups.delete(group.id);
    await this.deps.audit.record(actor, 'group.delete', { type: 'group', id: group.id }, { name: group.name });
    return group;
  }

  async addMember(actor: Actor, groupRef: string, userRef: string, role: unknown = 'member'): Promise<void> {
    if (role !== 'member' && role !== 'owner') throw new FlexiError('invalid_request', 'role must be member or owner.', { param: 'role' });
    const group = await this.getGroup(groupRef);
    const user = await this.deps.users.get(userRef);
    await this.deps.groups.addMember({ groupId: group.id, userId: user.id, role: role as GroupMemberRole, createdAt: this.now() });
    await this.deps.audit.record(actor, 'group.add_member', { type: 'group', id: group.id }, { user_id: user.id, role });
  }

  async removeMember(actor: Actor, groupRef: string, userRef: string): Promise<void> {
    const group = await this.getGroup(groupRef);
    const user = await this.deps.users.get(userRef);
    if (!(await this.deps.groups.removeMember(group.id, user.id))) throw new FlexiError('not_found', `${user.email} is not a member of ${group.name}.`);
    await this.deps.audit.record(actor, 'group.remove_member', { type: 'group', id: group.id }, { user_id: user.id });
  }
}
