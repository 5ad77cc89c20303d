import { FlexiError } from '../../core/errors.js';
import type { GroupRepository } from '../../store/group.repository.js';
import type { Principal } from './access-control.service.js';
import { matchesAny } from './policy.service.js';

/** The header with which a key acts for a course (a group, by name or id). */
export const COURSE_HEADER = 'x-flexi-course';

/**
 * Course context on API calls: a key that a Moodle site (or another LMS) uses may say which course
 * a request is for, and the request is then accounted to that group (`flexi usage --by group`) and
 * may use the group's templates. A key may do so only where an admin allowed it:
 * - an operator key (no user) with a `course:<glob>` scope, for every group whose name matches;
 * - a user's key with such a scope, only for groups its user **owns** (a lecturer's own key), so
 *   that nobody can book usage to a course that is not theirs by writing a scope on their own key.
 * Everything else — no scope, a session, a group that does not exist — is 403 naming the header.
 */
export class CourseContextService {
  constructor(private readonly groups: Pick<GroupRepository, 'find' | 'groupsOf'>) {}

  /** `principal` acting for the course in `header`, or unchanged when there is none. */
  async apply(principal: Principal, header: string | string[] | undefined): Promise<Principal> {
    if (header === undefined) return principal;
    const ref = Array.isArray(header) ? undefined : header.trim();
    if (ref === undefined || ref === '' || ref.length > 200) {
      throw new FlexiError('invalid_request', `The ${COURSE_HEADER} header must be one group name or id (1 to 200 characters).`, { param: COURSE_HEADER });
    }
    const patterns = principal.keyScopes?.courses;
    if (principal.via !== 'api_key' || !patterns) {
      throw new FlexiError('permission_denied', `This credential may not send ${COURSE_HEADER}: an admin gives the API key a scope course:<group> (docs/moodle.md).`, { param: COURSE_HEADER });
    }
    const group = await this.groups.find(ref);
    const allowed = group !== undefined && matchesAny(patterns, [group.name])
      && (principal.userId === undefined || (await this.groups.groupsOf(principal.userId)).some((g) => g.id === group.id && g.role === 'owner'));
    if (!allowed) {
      throw new FlexiError('permission_denied', `This API key may not act for the course '${ref.slice(0, 200)}' (${COURSE_HEADER}); its scopes allow course:${patterns.join(', course:')}.`, { param: COURSE_HEADER });
    }
    return { ...principal, course: { id: group.id, name: group.name } };
  }
}
