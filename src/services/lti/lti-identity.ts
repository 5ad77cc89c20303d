import type { UserRecord } from '../../core/identity-records.js';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { toTimestamp } from '../../store/database.js';
import type { GroupMemberRole, GroupRecord, GroupRepository } from '../../store/group.repository.js';
import type { LtiPlatformRecord, LtiRepository } from '../../store/lti.repository.js';
import type { UserRepository } from '../../store/user.repository.js';
import type { AuditService } from '../identity/audit.service.js';
import type { PolicyService } from '../identity/policy.service.js';
import type { UserService } from '../identity/user.service.js';
import { isCourseOwner } from './lti-claims.js';
import { sha256 } from './lti-launch.service.js';

/** A platform user as a launch or a roster names them. */
export interface PlatformPerson {
  subject: string;
  roles: readonly string[];
  /** Only when the platform shares it (Moodle's privacy setting). */
  email?: string;
  name?: string;
}

export interface PlatformContext {
  id: string;
  title?: string;
  label?: string;
  membershipsUrl?: string;
}

const INSTITUTION_ROLE = /^http:\/\/purl\.imsglobal\.org\/vocab\/lis\/v2\/institution\/person#([A-Za-z]+)$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;

/** The provider name of a platform's identities (`identities.provider`). */
export function ltiProvider(platform: Pick<LtiPlatformRecord, 'issuer'>): string {
  return `lti:${platform.issuer}`;
}

/**
 * Platform users → Flexi users (linked by issuer + `sub`), courses → Flexi groups, LTI roles →
 * group roles (Instructor/Administrator: owner, anyone else: member) and Flexi roles
 * (`lti.instructor_roles` / `lti.learner_roles`, added, never taken away by a launch).
 */
export class LtiIdentityService {
  private readonly clock: Clock;

  constructor(private readonly deps: {
    users: UserService;
    userRepository: Pick<UserRepository, 'findIdentity' | 'linkIdentity' | 'touchIdentity' | 'findByEmail'>;
    groups: GroupRepository;
    lti: LtiRepository;
    policies: PolicyService;
    audit: AuditService;
    learnerRoles: readonly string[];
    instructorRoles: readonly string[];
    /** LIS institution role name → Flexi roles (`lti.institution_roles`). */
    institutionRoles: Readonly<Record<string, readonly string[]>>;
    clock?: Clock;
  }) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The Flexi user of a platform user, created at the first sight; `touch`: a sign-in (launch), not a roster line. */
  linkUser(platform: LtiPlatformRecord, person: PlatformPerson, options: { touch: boolean }): Promise<UserRecord> {
    return firstSightRace(() => this.linkUserOnce(platform, person, options));
  }

  /** The group of a course, created at its first launch (a name of its own even when titles repeat). */
  linkContext(platform: LtiPlatformRecord, context: PlatformContext): Promise<GroupRecord> {
    return firstSightRace(() => this.linkContextOnce(platform, context));
  }

  private async linkUserOnce(platform: LtiPlatformRecord, person: PlatformPerson, options: { touch: boolean }): Promise<UserRecord> {
    const provider = ltiProvider(platform);
    const now = toTimestamp(this.clock.now());
    const wanted = this.rolesFor(person.roles);
    const identity = await this.deps.userRepository.findIdentity(provider, person.subject);
    if (identity) {
      if (options.touch) await this.deps.userRepository.touchIdentity(provider, person.subject, now);
      let user = await this.deps.users.get(identity.userId);
      if (user.disabledAt !== null) throw new FlexiError('permission_denied', 'Your Flexi account is disabled; ask an administrator.');
      const missing = wanted.filter((role) => !user.roles.includes(role));
      if (missing.length > 0) user = await this.deps.users.setRoles(user.id, [...user.roles, ...missing]);
      return user;
    }
    const email = person.email?.trim().toLowerCase();
    const sent = email !== undefined && EMAIL.test(email) ? email : undefined;
    // An e-mail some other account already has is not proof of being that person (any platform
    // admin can type any address): such a user gets an account of their own.
    const free = sent !== undefined && !(await this.deps.userRepository.findByEmail(sent)) ? sent : undefined;
    const user = await this.deps.users.create({
      email: free ?? `lti-${sha256(`${platform.issuer}\n${person.subject}`).slice(0, 20)}@lti.invalid`,
      roles: wanted,
      displayName: person.name?.trim().slice(0, 200) || null,
    });
    await this.deps.userRepository.linkIdentity({ userId: user.id, provider, subject: person.subject, email: sent ?? null, at: now });
    await this.deps.audit.record(`lti:${platform.id}`, 'lti.user_create', { type: 'user', id: user.id }, { platform: platform.id });
    return user;
  }

  private async linkContextOnce(platform: LtiPlatformRecord, context: PlatformContext): Promise<GroupRecord> {
    const title = (context.title ?? context.label ?? '').trim().slice(0, 150) || `Course ${context.id.slice(0, 40)}`;
    const existing = await this.deps.lti.findContext(platform.id, context.id);
    // Deleting the group deletes the link too (foreign key cascade), so a link always has its group.
    if (existing) {
      const group = await this.deps.groups.find(existing.groupId);
      if (group) {
        await this.deps.lti.updateContext(platform.id, context.id, {
          title, ...(context.membershipsUrl !== undefined ? { membershipsUrl: context.membershipsUrl } : {}),
        });
        return group;
      }
    }
    const now = toTimestamp(this.clock.now());
    const name = (await this.deps.groups.find(title)) ? `${title} (${platform.name} ${sha256(`${platform.id}\n${context.id}`).slice(0, 6)})` : title;
    const group = await this.deps.groups.create({ name, kind: 'course', description: `LTI course ${context.id.slice(0, 100)} on ${platform.name}`, createdAt: now });
    try {
      await this.deps.lti.insertContext({
        platformId: platform.id, contextId: context.id, groupId: group.id, title, membershipsUrl: context.membershipsUrl ?? null, createdAt: now, syncedAt: null,
      });
    } catch (error) {
      // Another launch of the same course linked it first: drop this group, use theirs (retry).
      await this.deps.groups.delete(group.id);
      throw error;
    }
    await this.deps.audit.record(`lti:${platform.id}`, 'lti.group_create', { type: 'group', id: group.id }, { platform: platform.id, context: context.id });
    return group;
  }

  async setMembership(group: GroupRecord, user: UserRecord, roles: readonly string[]): Promise<GroupMemberRole> {
    const role: GroupMemberRole = isCourseOwner(roles) ? 'owner' : 'member';
    await this.deps.groups.addMember({ groupId: group.id, userId: user.id, role, createdAt: toTimestamp(this.clock.now()) });
    return role;
  }

  private rolesFor(ltiRoles: readonly string[]): string[] {
    const roles = new Set(isCourseOwner(ltiRoles) ? this.deps.instructorRoles : this.deps.learnerRoles);
    for (const role of ltiRoles) {
      const name = INSTITUTION_ROLE.exec(role)?.[1];
      for (const mapped of (name !== undefined ? this.deps.institutionRoles[name] : undefined) ?? []) roles.add(mapped);
    }
    return [...roles].filter((role) => this.deps.policies.hasRole(role));
  }
}

const RACE_ATTEMPTS = 3;

/**
 * The first launches of a course (a class opening the activity at once) or of a user (a double
 * click; a roster sync meanwhile) race to create the same group or account; the unique keys let
 * one win and the others fail. A loser tries again shortly after and then finds the winner's row.
 */
async function firstSightRace<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const final = attempt >= RACE_ATTEMPTS || (error instanceof FlexiError && error.code !== 'conflict');
      if (final) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}
