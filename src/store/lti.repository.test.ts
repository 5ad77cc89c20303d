import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';

const AT = '2026-03-01T10:00:00.000Z';
const LATER = '2026-03-01T10:10:00.000Z';

describeEachDatabase('LtiRepository', (getStore) => {
  const platform = () => getStore().lti.createPlatform({
    name: 'Moodle', issuer: 'https://moodle.example', clientId: 'c1', authUrl: 'https://moodle.example/auth', jwksUrl: 'https://moodle.example/certs',
    tokenUrl: 'https://moodle.example/token', deploymentIds: ['1', '2', '1'], createdAt: AT,
  });

  it('stores platforms with their deployments, refuses a second registration of issuer + client id, and deletes them', async () => {
    const lti = getStore().lti;
    const created = await platform();
    expect(created.deploymentIds).toEqual(['1', '2']);
    expect(await lti.hasDeployment(created.id, '2')).toBe(true);
    expect(await lti.hasDeployment(created.id, '3')).toBe(false);
    await lti.addDeployment(created.id, '3', LATER);
    await lti.addDeployment(created.id, '3', LATER);
    expect((await lti.listPlatforms())[0]!.deploymentIds).toEqual(['1', '2', '3']);
    await expect(platform()).rejects.toThrow();
    expect(await lti.deletePlatform(created.id)).toBe(true);
    expect(await lti.listPlatforms()).toEqual([]);
    expect(await lti.deletePlatform(created.id)).toBe(false);
  });

  it('hands out a login state once, and each nonce once per platform', async () => {
    const lti = getStore().lti;
    const { id } = await platform();
    await lti.insertLoginState({ stateHash: 'h1', browserHash: 'b1', nonce: 'n1', platformId: id, loginParams: { iss: 'x', login_hint: '7' }, createdAt: AT, expiresAt: LATER });
    const [first, second] = await Promise.all([lti.takeLoginState('h1'), lti.takeLoginState('h1')]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    expect((first ?? second)!.loginParams).toEqual({ iss: 'x', login_hint: '7' });
    expect(await lti.takeLoginState('h1')).toBeUndefined();
    expect(await lti.useNonce(id, 'n1', LATER)).toBe(true);
    expect(await lti.useNonce(id, 'n1', LATER)).toBe(false);
    await lti.insertLoginState({ stateHash: 'h2', browserHash: 'b', nonce: 'n', platformId: id, loginParams: {}, createdAt: AT, expiresAt: AT });
    await lti.deleteExpired(LATER);
    expect(await lti.takeLoginState('h2')).toBeUndefined();
    expect(await lti.useNonce(id, 'n1', '2026-04-01T00:00:00.000Z')).toBe(true);
  });

  it('keeps tool keys newest first, retires all but one and deletes expired ones', async () => {
    const lti = getStore().lti;
    const key = (kid: string, createdAt: string) => ({ kid, publicJwk: '{}', privateJwkEncrypted: 'v1.x', createdAt, retiredAt: null, expiresAt: null });
    await lti.insertKey(key('old', AT));
    await lti.insertKey(key('new', LATER));
    expect((await lti.listKeys()).map((k) => k.kid)).toEqual(['new', 'old']);
    expect(await lti.retireKeysExcept('new', LATER, '2026-03-08T10:10:00.000Z')).toBe(1);
    expect((await lti.listKeys()).map((k) => [k.kid, k.retiredAt !== null])).toEqual([['new', false], ['old', true]]);
    expect(await lti.deleteExpiredKeys('2026-03-05T00:00:00.000Z')).toBe(0);
    expect(await lti.deleteExpiredKeys('2026-03-09T00:00:00.000Z')).toBe(1);
    expect((await lti.listKeys()).map((k) => k.kid)).toEqual(['new']);
  });

  it('links courses to groups, lists the group\'s members from one platform, and drops the link with the group', async () => {
    const store = getStore();
    const { id } = await platform();
    const group = await store.groups.create({ name: 'Statistics 1', kind: 'course', createdAt: AT });
    await store.lti.insertContext({ platformId: id, contextId: 'c-42', groupId: group.id, title: 'Statistics 1', membershipsUrl: null, createdAt: AT, syncedAt: null });
    await store.lti.updateContext(id, 'c-42', { membershipsUrl: 'https://moodle.example/nrps', syncedAt: LATER });
    expect(await store.lti.findContext(id, 'c-42')).toMatchObject({ groupId: group.id, membershipsUrl: 'https://moodle.example/nrps', syncedAt: LATER });
    const lti = await store.users.create({ email: 'a@x.example', roles: [], createdAt: AT });
    const manual = await store.users.create({ email: 'b@x.example', roles: [], createdAt: AT });
    await store.users.linkIdentity({ userId: lti.id, provider: 'lti:https://moodle.example', subject: '7', email: null, at: AT });
    for (const user of [lti, manual]) await store.groups.addMember({ groupId: group.id, userId: user.id, role: 'member', createdAt: AT });
    expect(await store.lti.listLinkedMembers(group.id, 'lti:https://moodle.example')).toEqual([{ userId: lti.id, subject: '7' }]);
    await store.groups.delete(group.id);
    expect(await store.lti.findContext(id, 'c-42')).toBeUndefined();
  });
});
