import type { Kysely } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { Database } from './database.js';

export type GroupKind = 'course' | 'institute' | 'other';
export type GroupMemberRole = 'member' | 'owner';

export interface GroupRecord {
  id: string;
  name: string;
  kind: GroupKind;
  description: string | null;
  createdAt: string;
}

export interface GroupMemberRecord {
  groupId: string;
  userId: string;
  email: string;
  role: GroupMemberRole;
  createdAt: string;
}

/** Groups (courses, institutes) and their memberships. */
export class GroupRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: { name: string; kind: GroupKind; description?: string | null; createdAt: string }): Promise<GroupRecord> {
    const row = { id: randomId(16), name: input.name, kind: input.kind, description: input.description ?? null, created_at: input.createdAt };
    await this.db.insertInto('groups').values(row).execute();
    return { id: row.id, name: row.name, kind: row.kind, description: row.description, createdAt: row.created_at };
  }

  /** By id, else by name. */
  async find(ref: string): Promise<GroupRecord | undefined> {
    const row = await this.db.selectFrom('groups').selectAll()
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
      .orderBy('created_at').executeTakeFirst();
    return row && { id: row.id, name: row.name, kind: row.kind as GroupKind, description: row.description, createdAt: row.created_at };
  }

  async list(): Promise<(GroupRecord & { members: number })[]> {
    const rows = await this.db.selectFrom('groups')
      .leftJoin('group_members', 'group_members.group_id', 'groups.id')
      .select((eb) => ['groups.id', 'groups.name', 'groups.kind', 'groups.description', 'groups.created_at', eb.fn.count<number>('group_members.user_id').as('members')])
      .groupBy(['groups.id', 'groups.name', 'groups.kind', 'groups.description', 'groups.created_at'])
      .orderBy('groups.name')
      .execute();
    return rows.map((row) => ({
      id: row.id, name: row.name, kind: row.kind as GroupKind, description: row.description, createdAt: row.created_at, members: Number(row.members),
    }));
  }

  async delete(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute();
      await trx.deleteFrom('groups').where('id', '=', id).execute();
    });
  }

  /** Adds or updates a membership. */
  async addMember(input: { groupId: string; userId: string; role: GroupMemberRole; createdAt: string }): Promise<void> {
    await this.db.insertInto('group_members')
      .values({ group_id: input.groupId, user_id: input.userId, role: input.role, created_at: input.createdAt })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doUpdateSet({ role: input.role }))
      .execute();
  }

  /** True when a membership was removed. */
  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listMembers(groupId: string): Promise<GroupMemberRecord[]> {
    const rows = await this.db.selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select(['group_members.group_id', 'group_members.user_id', 'users.email', 'group_members.role', 'group_members.created_at'])
      .where('group_members.group_id', '=', groupId)
      .orderBy('users.email')
      .execute();
    return rows.map((r) => ({ groupId: r.group_id, userId: r.user_id, email: r.email, role: r.role as GroupMemberRole, createdAt: r.created_at }));
  }

  /** Every membership: user id → group names (usage reports by group). */
  async membershipsByUser(): Promise<Map<string, string[]>> {
    const rows = await this.db.selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select(['group_members.user_id', 'groups.name'])
      .execute();
    const map = new Map<string, string[]>();
    for (const row of rows) map.set(row.user_id, [...(map.get(row.user_id) ?? []), row.name]);
    return map;
  }

  async groupsOf(userId: string): Promise<{ id: string; name: string; kind: GroupKind; role: GroupMemberRole }[]> {
    const rows = await this.db.selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select(['groups.id', 'groups.name', 'groups.kind', 'group_members.role'])
      .where('group_members.user_id', '=', userId)
      .orderBy('groups.name')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, kind: r.kind as GroupKind, role: r.role as GroupMemberRole }));
  }
}
