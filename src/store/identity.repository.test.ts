import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';

const T = '2026-01-05T10:00:00.000Z';

describeEachDatabase('identity repositories', (getStore) => {
  it('stores users with roles, finds them by id and e-mail, and updates them', async () => {
    const { users } = getStore();
    const user = await users.create({ email: 'a@uni.example', roles: ['student', 'guest'], passwordHash: 'h', createdAt: T });
    expect(await users.findByEmail('a@uni.example')).toEqual(user);
    expect((await users.findCredentials('a@uni.example'))?.passwordHash).toBe('h');
    const updated = await users.update(user.id, { roles: ['staff'], disabledAt: T }, '2026-01-06T00:00:00.000Z');
    expect(updated).toMatchObject({ roles: ['staff'], disabledAt: T, updatedAt: '2026-01-06T00:00:00.000Z' });
    await expect(users.create({ email: 'a@uni.example', roles: [], createdAt: T })).rejects.toThrow();
    expect((await users.list({ search: '%' })).length).toBe(0);
    expect((await users.list({ search: 'uni' })).map((u) => u.email)).toEqual(['a@uni.example']);
  });

  it('links external identities uniquely per provider and subject', async () => {
    const { users } = getStore();
    const user = await users.create({ email: 'b@uni.example', roles: ['student'], createdAt: T });
    await users.linkIdentity({ userId: user.id, provider: 'oidc', subject: 'sub-1', email: 'b@uni.example', at: T });
    await users.linkIdentity({ userId: user.id, provider: 'lti:https://moodle.example', subject: 'sub-1', email: null, at: T });
    expect((await users.findIdentity('oidc', 'sub-1'))?.userId).toBe(user.id);
    await expect(users.linkIdentity({ userId: user.id, provider: 'oidc', subject: 'sub-1', email: null, at: T })).rejects.toThrow();
    expect((await users.listIdentities(user.id)).map((i) => i.provider)).toEqual(['oidc', 'lti:https://moodle.example']);
  });

  it('keeps groups and memberships, counts members and lists groups of a user', async () => {
    const { users, groups } = getStore();
    const u1 = await users.create({ email: 'c@uni.example', roles: ['student'], createdAt: T });
    const u2 = await users.create({ email: 'd@uni.example', roles: ['staff'], createdAt: T });
    const course = await groups.create({ name: 'Stats', kind: 'course', createdAt: T });
    await groups.create({ name: 'Empty', kind: 'institute', createdAt: T });
    await groups.addMember({ groupId: course.id, userId: u1.id, role: 'member', createdAt: T });
    await groups.addMember({ groupId: course.id, userId: u2.id, role: 'member', createdAt: T });
    await groups.addMember({ groupId: course.id, userId: u2.id, role: 'owner', createdAt: T });
    expect((await groups.list()).map((g) => [g.name, g.members])).toEqual([['Empty', 0], ['Stats', 2]]);
    expect((await groups.listMembers(course.id)).map((m) => [m.email, m.role])).toEqual([['c@uni.example', 'member'], ['d@uni.example', 'owner']]);
    expect(await groups.groupsOf(u2.id)).toEqual([{ id: course.id, name: 'Stats', kind: 'course', role: 'owner' }]);
    expect((await groups.membershipsByUser()).get(u1.id)).toEqual(['Stats']);
    expect(await groups.removeMember(course.id, u1.id)).toBe(true);
    expect(await groups.removeMember(course.id, u1.id)).toBe(false);
    await groups.delete(course.id);
    expect(await groups.find('Stats')).toBeUndefined();
  });

  it('stores sessions by hash and revokes all of a user', async () => {
    const { users, sessions } = getStore();
    const user = await users.create({ email: 'e@uni.example', roles: ['student'], createdAt: T });
    const session = await sessions.create({ tokenHash: 'hash-1', userId: user.id, csrfToken: 'c', createdAt: T, expiresAt: '2026-01-06T00:00:00.000Z' });
    expect(await sessions.findByHash('hash-1')).toEqual(session);
    await sessions.revokeAllOf(user.id, T);
    expect((await sessions.findByHash('hash-1'))?.revokedAt).toBe(T);
    expect(await sessions.deleteEnded('2026-01-07T00:00:00.000Z')).toBe(1);
  });

  it('appends audit entries and lists them newest first', async () => {
    const { audit } = getStore();
    await audit.insert({ createdAt: T, actor: 'cli:root', action: 'user.create', targetType: 'user', targetId: 'u1', details: { email: 'x' } });
    await audit.insert({ createdAt: T, actor: 'user:u9', action: 'key.revoke' });
    const entries = await audit.list({ limit: 10 });
    expect(entries.map((e) => e.action)).toEqual(['key.revoke', 'user.create']);
    expect(entries[1]).toMatchObject({ targetId: 'u1', details: { email: 'x' } });
  });

  it('sums a subject\'s tokens since a time and groups usage by subject', async () => {
    const { usage } = getStore();
    const base = { requestId: 'r', endpoint: '/v1/chat/completions', protocol: 'openai' as const, model: 'm', status: 200, durationMs: 1 };
    await usage.insertMany([
      { ...base, createdAt: '2026-01-04T23:00:00.000Z', subject: 'u:a', promptTokens: 100, completionTokens: 100 },
      { ...base, createdAt: '2026-01-05T01:00:00.000Z', subject: 'u:a', promptTokens: 5, completionTokens: 7 },
      { ...base, createdAt: '2026-01-05T02:00:00.000Z', subject: 'u:b', promptTokens: 1, completionTokens: 1 },
    ]);
    expect(await usage.sumTokensSince('u:a', '2026-01-05T00:00:00.000Z')).toBe(12);
    expect(await usage.sumTokensSince('u:none', '2026-01-05T00:00:00.000Z')).toBe(0);
    const rows = await usage.summarizeBySubject('2026-01-05T00:00:00.000Z');
    expect(rows.map((r) => [r.subject, r.promptTokens + r.completionTokens]).sort()).toEqual([['u:a', 12], ['u:b', 2]]);
  });
});
