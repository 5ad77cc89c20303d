import { generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ROLE, TestLtiPlatform, type LaunchOptions } from '../helpers/lti-platform.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';
const CONFIG = [
  'auth:\n  cookie_secure: false',
  'lti:\n  allow_http: true\n  jwks_cooldown_ms: 0\n  roster_sync_interval_ms: 0\n  institution_roles:\n    Faculty: [researcher]',
  'roles:\n  student:\n    models: ["tiny*", "course:*"]',
].join('\n');

type Cookies = Record<string, string>;

/** name → value of every Set-Cookie, plus the raw headers (attributes). */
function setCookies(response: Response): { values: Cookies; raw: string[] } {
  const raw = response.headers.getSetCookie();
  const values: Cookies = {};
  for (const line of raw) {
    const [pair] = line.split(';');
    const at = pair!.indexOf('=');
    values[pair!.slice(0, at)] = decodeURIComponent(pair!.slice(at + 1));
  }
  return { values, raw };
}

const cookieHeader = (cookies: Cookies) => Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');

/** The hidden fields and action of the first form of a page. */
function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[match[1]!] = match[2]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))).replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  }
  return { action: action.replace(/&amp;/g, '&'), fields };
}

describeEachDatabase('LTI 1.3 tool', (getStore, dialect) => {
  let platform: TestLtiPlatform;
  let gateway: IdentityGateway;

  beforeEach(async () => {
    platform = new TestLtiPlatform();
    await platform.start();
    gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest', 'course:stat1'] })], { store: getStore(), configText: CONFIG });
    platform.toolJwksUrl = `${gateway.url}/lti/jwks`;
    await gateway.app.lti.platforms.add('test', { name: 'Test Moodle', ...platform.registration() });
  });

  afterEach(async () => {
    await gateway.close();
    await platform.close();
  });

  /** Step 1 → 2: the platform's login initiation; returns the state, nonce and browser cookie Flexi set. */
  async function login(browser: Cookies = {}) {
    const url = new URL(`${gateway.url}/lti/login`);
    const params = { iss: platform.issuer, login_hint: '7', target_link_uri: `${gateway.url}/lti/launch`, lti_message_hint: '{"cmid":3}', client_id: platform.clientId, lti_deployment_id: '1' };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(browser) } });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    const cookies = setCookies(response);
    return { location, state: location.searchParams.get('state')!, nonce: location.searchParams.get('nonce')!, browser: { ...browser, ...cookies.values }, raw: cookies.raw };
  }

  async function postLaunch(fields: Record<string, string>, browser: Cookies) {
    return fetch(`${gateway.url}/lti/launch`, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams(fields),
      headers: { cookie: cookieHeader(browser), 'sec-fetch-dest': 'iframe' },
    });
  }

  /** A whole launch with a token built from `options` (or changed by `token`). */
  async function launchWith(options: LaunchOptions = {}, token?: (nonce: string) => Promise<string>) {
    const started = await login();
    const idToken = token ? await token(started.nonce) : await platform.idToken(started.nonce, options);
    return postLaunch({ id_token: idToken, state: started.state }, started.browser);
  }

  async function lastRefusal() {
    const entries = await gateway.identity.audit.list({ limit: 20 });
    const entry = entries.find((e) => e.action === 'lti.launch_refused');
    return entry?.details as { check?: string } | undefined;
  }

  /** A refused launch: an HTML page naming the check, an audit entry, and no session. */
  async function expectRefused(response: Response, check: string) {
    const body = await response.text();
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(body).toContain(`<code>${check}</code>`);
    expect(setCookies(response).values.flexi_session).toBeUndefined();
    expect((await lastRefusal())?.check).toBe(check);
  }

  it('sends the browser to the platform with every OIDC parameter and binds the state to a cross-site cookie', async () => {
    const { location, state, nonce, raw } = await login();
    expect(location.origin + location.pathname).toBe(platform.authUrl);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      scope: 'openid', response_type: 'id_token', response_mode: 'form_post', prompt: 'none', client_id: platform.clientId,
      redirect_uri: `${gateway.url}/lti/launch`, login_hint: '7', lti_message_hint: '{"cmid":3}',
    });
    expect(state).toMatch(/^[A-Za-z0-9]{43}$/);
    expect(nonce).toMatch(/^[A-Za-z0-9]{43}$/);
    const cookie = raw.find((line) => line.startsWith('flexi_lti_browser='))!;
    expect(cookie).toMatch(/SameSite=None/i);
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Partitioned/i);
  });

  it('accepts a login POSTed as a form', async () => {
    const response = await fetch(`${gateway.url}/lti/login`, {
      method: 'POST', redirect: 'manual',
      body: new URLSearchParams({ iss: platform.issuer, login_hint: '7', target_link_uri: `${gateway.url}/lti/launch`, lti_message_hint: 'x' }),
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toContain(platform.authUrl);
  });

  it('runs login → platform auth → launch → chat page, creating the user, the course group and a session that works in a frame', async () => {
    platform.nextLaunch = { person: { sub: '7', roles: [ROLE.learner], name: 'Lea Lernt', email: 'lea@uni-example.de' }, custom: { model: 'course:stat1' } };
    const started = await login();
    // The platform answers the redirect with an auto-posting form, as Moodle's auth.php does.
    const auth = await fetch(started.location);
    const form = formOf(await auth.text());
    expect(form.action).toBe(`${gateway.url}/lti/launch`);
    const launched = await postLaunch(form.fields, started.browser);
    expect(launched.status).toBe(303);
    expect(launched.headers.get('location')).toBe('/?model=course%3Astat1');
    const session = setCookies(launched);
    expect(session.raw.find((l) => l.startsWith('flexi_session='))).toMatch(/SameSite=None.*|.*SameSite=None/i);
    const me = await fetch(`${gateway.url}/auth/me`, { headers: { cookie: cookieHeader(session.values) } });
    const body = await me.json() as { user: { email: string; display_name: string }; roles: string[] };
    expect(body.user.email).toBe('lea@uni-example.de');
    expect(body.user.display_name).toBe('Lea Lernt');
    expect(body.roles).toEqual(['student']);
    const groups = await gateway.identity.admin.listGroups();
    expect(groups.map((g) => [g.name, g.kind, g.members])).toEqual([['Statistics 1', 'course', 1]]);
    const user = await gateway.identity.users.get('lea@uni-example.de');
    expect((await gateway.store.groups.groupsOf(user.id)).map((g) => g.role)).toEqual(['member']);
    expect((await gateway.identity.users.listIdentities(user.id)).map((i) => [i.provider, i.subject])).toEqual([[`lti:${platform.issuer}`, '7']]);
    // The web UI may be framed by the platform (and only by it and Flexi itself).
    const page = await fetch(`${gateway.url}/`, { headers: { accept: 'text/html', cookie: cookieHeader(session.values) } });
    expect(page.headers.get('content-security-policy')).toContain(`frame-ancestors 'self' ${platform.url}`);
  });

  it('makes an Instructor an owner of the course group, links the same user on the next launch, and stores no e-mail the platform did not send', async () => {
    const teacher = { sub: 't-1', roles: [ROLE.instructor], name: 'Prof Tee' };
    expect((await launchWith({ person: teacher })).status).toBe(303);
    expect((await launchWith({ person: teacher })).status).toBe(303);
    const users = await gateway.identity.users.list();
    expect(users).toHaveLength(1);
    expect(users[0]!.email).toMatch(/^lti-[0-9a-f]{20}@lti\.invalid$/);
    expect(users[0]!.roles).toEqual(['staff']);
    const [group] = await gateway.identity.admin.listGroups();
    expect((await gateway.store.groups.listMembers(group!.id)).map((m) => m.role)).toEqual(['owner']);
    const identities = await gateway.identity.users.listIdentities(users[0]!.id);
    expect(identities).toHaveLength(1);
  });

  it('adds the Flexi roles configured for the institution roles a platform sends', async () => {
    const faculty = 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty';
    expect((await launchWith({ person: { sub: 'f-1', roles: [ROLE.learner, faculty], email: 'fac@uni-example.de' } })).status).toBe(303);
    expect((await gateway.identity.users.get('fac@uni-example.de')).roles).toEqual(['student', 'researcher']);
  });

  it('creates one group when a whole class opens a new course at once, and one account when a user double-clicks', async () => {
    const students = Array.from({ length: 6 }, (_, i) => ({ sub: `s-${i}`, roles: [ROLE.learner], name: `Student ${i}` }));
    const responses = await Promise.all(students.map((person) => launchWith({ person })));
    expect(responses.map((r) => r.status)).toEqual(students.map(() => 303));
    const groups = await gateway.identity.admin.listGroups();
    expect(groups.map((g) => [g.name, g.members])).toEqual([['Statistics 1', 6]]);
    const twice = await Promise.all([0, 1, 2].map(() => launchWith({ person: { sub: 'dbl', roles: [ROLE.learner] } })));
    expect(twice.map((r) => r.status)).toEqual([303, 303, 303]);
    expect((await gateway.identity.users.list()).length).toBe(7);
  });

  it('gives a user whose e-mail another account has an account of their own (no takeover by e-mail)', async () => {
    const existing = await gateway.identity.admin.addUser('test', { email: 'boss@uni-example.de', roles: ['admin'], password: 'correct horse battery' });
    expect((await launchWith({ person: { sub: 'x', roles: [ROLE.learner], email: 'boss@uni-example.de' } })).status).toBe(303);
    const linked = await gateway.store.users.findIdentity(`lti:${platform.issuer}`, 'x');
    expect(linked!.userId).not.toBe(existing.id);
  });

  // One test per check of the IMS Security Framework: each token fails that check only. The checks are
  // database-independent logic; they run on SQLite (the repository tests cover the nonce and state rows
  // on PostgreSQL too, and the flows below run on both).
  if (dialect === 'sqlite') {
    it('refuses an unknown or reused state (check: state)', async () => {
      const started = await login();
      await expectRefused(await postLaunch({ id_token: await platform.idToken(started.nonce), state: 'not-the-state' }, started.browser), 'state');
      const ok = await postLaunch({ id_token: await platform.idToken(started.nonce), state: started.state }, started.browser);
      expect(ok.status).toBe(303);
      // Posting the same form again (a replayed launch) finds its state used.
      await expectRefused(await postLaunch({ id_token: await platform.idToken(started.nonce), state: started.state }, started.browser), 'state');
    });

    it('refuses a launch from another browser than the one that started the login (check: browser)', async () => {
      const started = await login();
      const other = await login();
      await expectRefused(await postLaunch({ id_token: await platform.idToken(started.nonce), state: started.state }, other.browser), 'browser');
    });

    it('offers a new window when the frame sent no cookie at all (third-party cookies blocked), and gives no session', async () => {
      const started = await login();
      const response = await postLaunch({ id_token: await platform.idToken(started.nonce), state: started.state }, {});
      const body = await response.text();
      expect(response.status).toBe(401);
      expect(body).toContain('Open in a new window');
      const link = /id="open-new-window" href="([^"]*)"/.exec(body)![1]!.replace(/&amp;/g, '&');
      const relaunch = new URL(link);
      expect(relaunch.pathname).toBe('/lti/login');
      expect(relaunch.searchParams.get('lti_message_hint')).toBe('{"cmid":3}');
      expect(setCookies(response).values.flexi_session).toBeUndefined();
      expect((await lastRefusal())?.check).toBe('browser');
    });

    it('refuses a token signed by another key under the platform\'s kid (check: signature)', async () => {
      const forger = await generateKeyPair('RS256');
      await expectRefused(await launchWith({ signWith: forger.privateKey }), 'signature');
    });

    it('refuses HS256 and unsigned tokens (check: signature)', async () => {
      await expectRefused(await launchWith({}, async (nonce) =>
        new SignJWT(platform.claims(nonce)).setProtectedHeader({ alg: 'HS256', kid: platform.kid }).sign(new TextEncoder().encode('x'.repeat(32)))), 'signature');
      await expectRefused(await launchWith({}, async (nonce) => {
        const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${part({ alg: 'none', typ: 'JWT' })}.${part(platform.claims(nonce))}.`;
      }), 'signature');
    });

    it('refetches the platform\'s key set when a token names an unknown kid, and refuses a kid the platform does not have', async () => {
      expect((await launchWith()).status).toBe(303);
      const fetches = platform.jwksFetches;
      await platform.rotateKey();
      expect((await launchWith()).status).toBe(303);
      expect(platform.jwksFetches).toBe(fetches + 1);
      await expectRefused(await launchWith({ header: { kid: 'no-such-kid' } }), 'signature');
    });

    it('refuses a launch when the platform\'s key set cannot be fetched (check: jwks_unreachable)', async () => {
      platform.jwksDown = true;
      await expectRefused(await launchWith(), 'jwks_unreachable');
    });

    it('refuses a token from another issuer (check: iss)', async () => {
      await expectRefused(await launchWith({ claims: { iss: 'https://evil.example' } }), 'iss');
    });

    it('refuses a token for another client (check: aud)', async () => {
      await expectRefused(await launchWith({ claims: { aud: 'someone-else' } }), 'aud');
    });

    it('refuses several audiences without azp naming Flexi (check: azp), and accepts them with it', async () => {
      await expectRefused(await launchWith({ claims: { aud: [platform.clientId, 'other'] } }), 'azp');
      expect((await launchWith({ claims: { aud: [platform.clientId, 'other'], azp: platform.clientId } })).status).toBe(303);
    });

    it('refuses an expired token (check: exp)', async () => {
      const nowS = Math.floor(Date.now() / 1000);
      await expectRefused(await launchWith({ claims: { iat: nowS - 300, exp: nowS - 200 } }), 'exp');
    });

    it('refuses a token issued long ago or in the future (check: iat)', async () => {
      const nowS = Math.floor(Date.now() / 1000);
      await expectRefused(await launchWith({ claims: { iat: nowS - 3600, exp: nowS + 60 } }), 'iat');
      await expectRefused(await launchWith({ claims: { iat: nowS + 3600, exp: nowS + 3660 } }), 'iat');
    });

    it('refuses a nonce that is not the login\'s, and a nonce used before (check: nonce)', async () => {
      await expectRefused(await launchWith({}, (nonce) => platform.idToken(`${nonce}x`)), 'nonce');
      const started = await login();
      const [row] = await gateway.store.lti.listPlatforms();
      await gateway.store.lti.useNonce(row!.id, started.nonce, new Date(Date.now() + 60_000).toISOString());
      await expectRefused(await postLaunch({ id_token: await platform.idToken(started.nonce), state: started.state }, started.browser), 'nonce');
    });

    it('refuses an unregistered deployment (check: deployment_id)', async () => {
      await expectRefused(await launchWith({ claims: { [`${LTI}deployment_id`]: '99' } }), 'deployment_id');
    });

    it('refuses another LTI version (check: version)', async () => {
      await expectRefused(await launchWith({ claims: { [`${LTI}version`]: '1.1' } }), 'version');
    });

    it('refuses an unknown message type (check: message_type)', async () => {
      await expectRefused(await launchWith({ claims: { [`${LTI}message_type`]: 'LtiSubmissionReviewRequest' } }), 'message_type');
    });

    it('refuses a resource link launch without resource_link (check: claims)', async () => {
      await expectRefused(await launchWith({ claims: { [`${LTI}resource_link`]: undefined } }), 'claims');
    });

    it('answers bad login requests with a page naming what is missing or unknown', async () => {
      const missing = await fetch(`${gateway.url}/lti/login?login_hint=1`, { redirect: 'manual' });
      expect(missing.status).toBe(400);
      expect(await missing.text()).toContain('lacks &quot;iss&quot;');
      const unknown = await fetch(`${gateway.url}/lti/login?iss=https%3A%2F%2Fother.example&login_hint=1&target_link_uri=x`, { redirect: 'manual' });
      expect(unknown.status).toBe(401);
      expect(await unknown.text()).toContain('flexi lti platforms add');
      const get = await fetch(`${gateway.url}/lti/launch`);
      expect(get.status).toBe(400);
      const json = await fetch(`${gateway.url}/lti/launch`, { method: 'POST', body: '{"id_token":1}', headers: { 'content-type': 'application/json' } });
      expect(json.status).toBe(400);
      expect(await json.text()).toContain('<code>request</code>');
    });
  }

  it('lets an instructor pick a model by deep linking and returns a signed LtiDeepLinkingResponse to the platform', async () => {
    // A global template is a model the instructor may place too (virtual models are offered with the node models).
    await gateway.store.templates.create({
      name: 'summary', groupId: null, now: new Date().toISOString(),
      definition: { model: 'tiny', user: 'Summarise: {{input}}', parameters: [], sampling: {} },
    });
    const response = await launchWith({ messageType: 'LtiDeepLinkingRequest', person: { sub: 't-1', roles: [ROLE.instructor] } });
    expect(response.status).toBe(200);
    const picker = await response.text();
    expect(picker).toContain('value="template:summary"');
    expect(picker).toContain('value="course:stat1"');
    expect(picker).toContain('value="tiny"');
    const ticket = formOf(picker).fields.ticket!;
    const chosen = await fetch(`${gateway.url}/lti/deep-link`, { method: 'POST', body: new URLSearchParams({ ticket, model: 'course:stat1', title: 'Stats bot' }) });
    expect(chosen.status).toBe(200);
    expect(chosen.headers.get('content-security-policy')).toContain(`form-action 'self' ${platform.url}`);
    const back = formOf(await chosen.text());
    expect(back.action).toBe(platform.deepLinkReturnUrl);
    const received = await fetch(back.action, { method: 'POST', body: new URLSearchParams(back.fields) });
    expect(received.status).toBe(200);
    const [payload] = platform.deepLinkResponses;
    expect(payload).toMatchObject({
      iss: platform.clientId, aud: platform.issuer,
      [`${LTI}message_type`]: 'LtiDeepLinkingResponse', [`${LTI}version`]: '1.3.0', [`${LTI}deployment_id`]: '1',
      'https://purl.imsglobal.org/spec/lti-dl/claim/data': 'moodle-data-123',
      'https://purl.imsglobal.org/spec/lti-dl/claim/content_items': [{ type: 'ltiResourceLink', title: 'Stats bot', url: `${gateway.url}/lti/launch`, custom: { model: 'course:stat1' } }],
    });
  });

  it('refuses deep linking to learners, altered tickets and models the instructor may not use', async () => {
    const learner = await launchWith({ messageType: 'LtiDeepLinkingRequest' });
    expect(learner.status).toBe(403);
    const response = await launchWith({ messageType: 'LtiDeepLinkingRequest', person: { sub: 't-1', roles: [ROLE.instructor] } });
    const ticket = formOf(await response.text()).fields.ticket!;
    const altered = await fetch(`${gateway.url}/lti/deep-link`, { method: 'POST', body: new URLSearchParams({ ticket: `${ticket}x`, model: 'tiny' }) });
    expect(altered.status).toBe(401);
    const unknown = await fetch(`${gateway.url}/lti/deep-link`, { method: 'POST', body: new URLSearchParams({ ticket, model: 'huge:70b' }) });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('huge:70b');
    expect(platform.deepLinkResponses).toHaveLength(0);
  });

  it('syncs the course roster over NRPS: members join with their roles, members who left lose access, members added by hand stay', async () => {
    expect((await launchWith({ person: { sub: 't-1', roles: [ROLE.instructor], name: 'Prof Tee' } })).status).toBe(303);
    platform.roster = [
      { sub: 't-1', roles: [ROLE.instructor], name: 'Prof Tee' },
      { sub: 's-1', roles: [ROLE.learner], name: 'Ann', email: 'ann@uni-example.de' },
      { sub: 's-2', roles: [ROLE.learner], name: 'Ben' },
      { sub: 's-3', roles: [ROLE.learner], name: 'Cem', status: 'Inactive' },
      { sub: 's-4', roles: [ROLE.learner], name: 'Dan' },
    ];
    const [row] = await gateway.app.lti.platforms.list();
    const [group] = await gateway.identity.admin.listGroups();
    const manual = await gateway.identity.admin.addUser('test', { email: 'tutor@uni-example.de', roles: ['staff'] });
    await gateway.identity.admin.addMember('test', group!.id, manual.id, 'member');

    const [first] = await gateway.app.lti.roster.syncPlatform(row!, 'test');
    expect(first).toMatchObject({ contextId: platform.contextId, members: 4, added: 3, removed: 0 });
    const roles = async () => Object.fromEntries((await gateway.store.groups.listMembers(group!.id)).map((m) => [m.email, m.role]));
    expect(Object.values(await roles()).sort()).toEqual(['member', 'member', 'member', 'member', 'owner']);
    expect((await roles())['ann@uni-example.de']).toBe('member');

    platform.roster = platform.roster.filter((p) => p.sub !== 's-2');
    const [second] = await gateway.app.lti.roster.syncPlatform(row!, 'test', platform.contextId);
    expect(second).toMatchObject({ members: 3, added: 0, removed: 1 });
    const after = await roles();
    expect(Object.keys(after)).toHaveLength(4);
    expect(after['tutor@uni-example.de']).toBe('member');
    expect(platform.tokenRequests).toBe(1);
  });

  it('registers a platform by LTI Dynamic Registration with a link made by the administrator', async () => {
    const openid = `${platform.url}/mod/lti/openid-configuration.php`;
    const refused = await fetch(`${gateway.url}/lti/register?openid_configuration=${encodeURIComponent(openid)}&registration_token=reg-token-1`);
    expect(refused.status).toBe(400);
    const forged = await fetch(`${gateway.url}/lti/register?token=abc.def&openid_configuration=${encodeURIComponent(openid)}&registration_token=reg-token-1`);
    expect(forged.status).toBe(401);
    expect(platform.registrations).toHaveLength(0);

    const { url } = gateway.app.lti.registration.registrationUrl(gateway.url, 3_600_000);
    const link = new URL(url);
    link.searchParams.set('openid_configuration', openid);
    link.searchParams.set('registration_token', 'reg-token-1');
    const response = await fetch(link);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('dyn-client-9');
    const [registration] = platform.registrations;
    expect(registration!.authorization).toBe('Bearer reg-token-1');
    expect(registration!.body).toMatchObject({
      response_types: ['id_token'], initiate_login_uri: `${gateway.url}/lti/login`, redirect_uris: [`${gateway.url}/lti/launch`],
      jwks_uri: `${gateway.url}/lti/jwks`, token_endpoint_auth_method: 'private_key_jwt',
    });
    const stored = (await gateway.app.lti.platforms.list()).find((p) => p.clientId === 'dyn-client-9');
    expect(stored).toMatchObject({ issuer: platform.issuer, authUrl: platform.authUrl, jwksUrl: platform.jwksUrl, tokenUrl: platform.tokenUrl, deploymentIds: ['5'] });
  });

  it('refuses a registration whose platform names an issuer on another host than its configuration, storing nothing', async () => {
    const { url } = gateway.app.lti.registration.registrationUrl(gateway.url, 3_600_000);
    const link = new URL(url);
    link.searchParams.set('openid_configuration', `${platform.url.replace('127.0.0.1', 'localhost')}/mod/lti/openid-configuration.php`);
    link.searchParams.set('registration_token', 'reg-token-1');
    const response = await fetch(link);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('not on the host of its configuration URL');
    expect(platform.registrations).toHaveLength(0);
    expect(await gateway.app.lti.platforms.list()).toHaveLength(1);
  });

  it('gives a disabled account a page and no session', async () => {
    expect((await launchWith()).status).toBe(303);
    const user = await gateway.identity.users.get('lea@uni-example.de');
    await gateway.identity.users.setDisabled(user.id, true);
    const response = await launchWith();
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('disabled');
    expect(setCookies(response).values.flexi_session).toBeUndefined();
  });

  it('publishes the tool key set, keeping a rotated key until it expires', async () => {
    const before = await (await fetch(`${gateway.url}/lti/jwks`)).json() as { keys: { kid: string; d?: string }[] };
    expect(before.keys).toHaveLength(1);
    expect(before.keys[0]!.d).toBeUndefined();
    const rotated = await gateway.app.lti.keys.rotate();
    const after = await (await fetch(`${gateway.url}/lti/jwks`)).json() as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid).sort()).toEqual([before.keys[0]!.kid, rotated.kid].sort());
  });
});
