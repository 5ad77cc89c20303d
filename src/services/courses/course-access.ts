import { FlexiError } from '../../core/errors.js';
import type { CollectionRecord } from '../../store/collection.repository.js';
import type { GroupMemberRole } from '../../store/group.repository.js';
import type { Store } from '../../store/store.js';

/** Who acts on a collection: a signed-in user (web, API key) or an operator (CLI, admin role). */
export interface CourseActor {
  userId?: string;
  admin: boolean;
  /** For the audit log: `user:<id>`, `key:<id>`, `cli:<os user>`. */
  label: string;
}

/** What an actor may do with one collection. */
export type CourseRole = 'admin' | GroupMemberRole;

/** A collection as its actor sees it, with what they may do. */
export interface CollectionAccess {
  collection: CollectionRecord;
  role: CourseRole;
  /** Upload and remove documents, change the bot's settings, delete the collection. */
  canManage: boolean;
}

/** Collection names are model names (`course:<name>`): lower-case, no spaces, no colons. */
export const COLLECTION_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * The one place that decides who sees a collection: its group's members ask, its owners and
 * admins manage, and everyone else is told it does not exist (404, never 403: a course's bot
 * must not reveal that it exists to people outside the course).
 */
export class CourseAccess {
  constructor(private readonly store: Store) {}

  async roleIn(actor: CourseActor, groupId: string): Promise<CourseRole | undefined> {
    if (actor.admin) return 'admin';
    if (!actor.userId) return undefined;
    const groups = await this.store.groups.groupsOf(actor.userId);
    return groups.find((g) => g.id === groupId)?.role;
  }

  /** The collection for anyone in its course; `notFound` builds the error for everyone else. */
  async forMember(actor: CourseActor, name: string, notFound: () => FlexiError = () => collectionNotFound(name)): Promise<CollectionAccess> {
    const lower = name.toLowerCase();
    const collection = COLLECTION_NAME.test(lower) ? await this.store.collections.findByName(lower) : undefined;
    const role = collection && await this.roleIn(actor, collection.groupId);
    if (!collection || !role) throw notFound();
    return { collection, role, canManage: role !== 'member' };
  }

  /** The collection for its owners and admins; members learn they may not, others that it does not exist. */
  async forOwner(actor: CourseActor, name: string): Promise<CollectionAccess> {
    const access = await this.forMember(actor, name);
    if (!access.canManage) {
      throw new FlexiError('permission_denied', `Only the owners of the course "${access.collection.groupName}" may change the collection "${access.collection.name}".`);
    }
    return access;
  }

  /** Collections whose courses the actor belongs to (admins: all), with their role. */
  async visible(actor: CourseActor): Promise<CollectionAccess[]> {
    if (actor.admin) {
      return (await this.store.collections.list()).map((collection) => ({ collection, role: 'admin' as const, canManage: true }));
    }
    if (!actor.userId) return [];
    const groups = await this.store.groups.groupsOf(actor.userId);
    const roles = new Map(groups.map((g) => [g.id, g.role]));
    const collections = await this.store.collections.list(groups.map((g) => g.id));
    return collections.map((collection) => {
      const role = roles.get(collection.groupId)!;
      return { collection, role, canManage: role === 'owner' };
    });
  }

  /** Whether the actor may create a collection for the group (its owners and admins). */
  async canCreateIn(actor: CourseActor, groupId: string): Promise<boolean> {
    const role = await this.roleIn(actor, groupId);
    return role === 'admin' || role === 'owner';
  }
}

export function collectionNotFound(name: string): FlexiError {
  return new FlexiError('not_found', `No collection named "${name}".`);
}
