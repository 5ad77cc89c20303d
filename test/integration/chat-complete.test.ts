/**
 * Web chats, complete, against SQLite and (when configured) PostgreSQL: answers the server
 * writes (they survive the browser leaving, can be followed, stopped, and refuse bad input
 * before anything is stored), and chats encrypted at rest (the database holds no chat text; the
 * user's password, session or recovery key opens it; an admin's password reset locks it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiAnswerEvent, UiChat } from '../../src/api/ui.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, testDialects } from '../helpers/db.js';
import { startIdentityGateway, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WORDS = ['Circles', ' are', ' round', '.'];

interface Session { cookies: Record<string, string>; userId: string }

/** Lets a test hold the scripted answer before its second word, as many times as it likes. */
class Gate {
  private held: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private words = 0;
  hold(): void {
    this.words = 0;
    this.held = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.held = undefined;
  }
  readonly beforeWord = (): Promise<void> => (this.words++ === 1 && this.held ? this.held : Promise.resolve());
}

function configText(encrypt: boolean): string {
  return [
    'auth:\n  cookie_secure: false',
    'roles:\n  student:\n    models: ["*"]',
    'chat:\n  vision_models: ["llava*"]',
    ...(encrypt ? ['privacy:\n  encrypt_chats: true'] : []),
  ].join('\n');
}

function headersOf(session: Session, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json', cookie: Object.entries(session.cookies).map(([k, v]) => `${k}=${v}`).join('; '),
    'x-csrf-token': session.cookies.flexi_csrf!, ...extra,
  };
}

async function login(gw: IdentityGateway, email: string, password: string): Promise<Session & { status: number }> {
  const response = await fetch(`${gw.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const cookies: Record<string, string> = {};
  for (const header of response.headers.getSetCookie()) {
    const [pair] = header.split(';');
    const [name, value] = pair!.split('=');
    if (value) cookies[name!] = value;
  }
  const body = (await response.json()) as { user?: { id: string } };
  return { cookies, userId: body.user?.id ?? '', status: response.status };
}

async function call<T>(gw: IdentityGateway, session: Session, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${gw.url}${path}`, { method, headers: headersOf(session), body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? null : JSON.parse(text)) as T };
}

/** Reads SSE events until `stopAfter` says so (then the connection is dropped) or the stream ends. */
async function readEvents(response: Response, stopAfter?: (event: UiAnswerEvent) => boolean, onEvent?: (event: UiAnswerEvent) => void): Promise<UiAnswerEvent[]> {
  const events: UiAnswerEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!frame.startsWith('data: ')) continue;
      const event = JSON.parse(frame.slice(6)) as UiAnswerEvent;
      events.push(event);
      onEvent?.(event);
      if (stopAfter?.(event)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

function answer(gw: IdentityGateway, session: Session, chatId: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${gw.url}/ui/v1/chats/${chatId}/answer`, { method: 'POST', headers: headersOf(session), body: JSON.stringify(body), signal });
}

async function eventually(check: () => boolean | Promise<boolean>, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(await check()).toBe(true);
}

describe.each(testDialects())('chats, complete, on %s', (dialect) => {
  let store: Store;
  let gateway: IdentityGateway;
  let session: Session;
  const gate = new Gate();
  const backend = new ScriptedBackend({ models: ['tiny:latest', 'llava:latest'], words: WORDS, gate: gate.beforeWord });

  beforeAll(async () => {
    store = await openTestStore(dialect);
    gateway = await startIdentityGateway([backend], { store, configText: configText(false) });
    await gateway.identity.admin.addUser('test', { email: `erin-${dialect}@uni.example`, roles: ['student'], password: 'a-long-password' });
    session = await login(gateway, `erin-${dialect}@uni.example`, 'a-long-password');
    await call(gateway, session, 'POST', '/auth/agreement/accept', { version: (await call<{ version: string }>(gateway, session, 'GET', '/auth/agreement')).body.version });
  });
  afterAll(async () => {
    await gateway?.close();
    await store?.close();
  });

  async function newChat(): Promise<string> {
    return (await call<UiChat>(gateway, session, 'POST', '/ui/v1/chats', {})).body.id;
  }

  it('streams started, deltas and done, and stores the turn and the answer', async () => {
    const id = await newChat();
    const events = await readEvents(await answer(gateway, session, id, { model: 'tiny', message: { content: 'Tell me about circles' } }));
    expect(events[0]).toMatchObject({ type: 'started' });
    const started = events[0] as Extract<UiAnswerEvent, { type: 'started' }>;
    expect(started.chat.messages.map((m) => [m.role, m.streaming])).toEqual([['user', false], ['assistant', true]]);
    expect(events.filter((e) => e.type === 'delta').map((e) => (e as { content: string }).content).join('')).toBe(WORDS.join(''));
    const done = events.at(-1) as Extract<UiAnswerEvent, { type: 'done' }>;
    expect(done.type).toBe('done');
    expect(done.chat.messages.map((m) => [m.role, m.content, m.finish])).toEqual([['user', 'Tell me about circles', null], ['assistant', WORDS.join(''), 'stop']]);
    expect(done.chat.title).toBe('Tell me about circles');
  });

  it('goes on when the browser leaves, can be followed (snapshot, then the rest), and is stored whole', async () => {
    const id = await newChat();
    gate.hold();
    const leaving = new AbortController();
    const first = await readEvents(await answer(gateway, session, id, { model: 'tiny', message: { content: 'Hold on' } }, leaving.signal), (e) => e.type === 'delta');
    leaving.abort();
    expect(first.at(-1)).toEqual({ type: 'delta', content: 'Circles' });
    // While it is held: the chat says it is being written, with what it has so far.
    const live = (await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body;
    expect(live.messages[1]).toMatchObject({ streaming: true, content: 'Circles', finish: null });
    // A second answer in the same chat waits for this one.
    expect((await answer(gateway, session, id, { model: 'tiny', message: { content: 'again' } })).status).toBe(409);
    let attached: () => void = () => undefined;
    const snapshotSeen = new Promise<void>((resolve) => (attached = resolve));
    const following = fetch(`${gateway.url}/ui/v1/chats/${id}/answer`, { headers: headersOf(session) })
      .then((r) => readEvents(r, undefined, (e) => e.type === 'snapshot' && attached()));
    await snapshotSeen;
    expect(gateway.app.answers.running).toBe(1);
    gate.release();
    const followed = await following;
    expect(followed[0]).toEqual({ type: 'snapshot', message_id: live.messages[1]!.id, content: 'Circles' });
    expect(followed.at(-1)!.type).toBe('done');
    const stored = (await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body;
    expect(stored.messages[1]).toMatchObject({ content: WORDS.join(''), finish: 'stop', streaming: false });
    expect((await call(gateway, session, 'GET', `/ui/v1/chats/${id}/answer`)).status).toBe(404);
  });

  it('stops on the user\'s Stop, stored as stopped with what it had, and the node is told', async () => {
    const id = await newChat();
    gate.hold();
    const abortedBefore = backend.aborted;
    const response = await answer(gateway, session, id, { model: 'tiny', message: { content: 'Stop me' } });
    const events = readEvents(response);
    await eventually(async () => (await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.messages[1]?.content === 'Circles');
    expect((await call(gateway, session, 'POST', `/ui/v1/chats/${id}/answer/stop`)).status).toBe(204);
    expect((await events).at(-1)!.type).toBe('done');
    gate.release();
    const stored = (await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body;
    expect(stored.messages[1]).toMatchObject({ content: 'Circles', finish: 'stopped' });
    expect(backend.aborted).toBe(abortedBefore + 1);
    expect((await call(gateway, session, 'POST', `/ui/v1/chats/${id}/answer/stop`)).status).toBe(404);
  });

  it('takes an image for a vision model, and refuses one for a text model before storing anything', async () => {
    const id = await newChat();
    const image = `data:image/png;base64,${PNG}`;
    const refused = await answer(gateway, session, id, { model: 'tiny', message: { content: 'Look', images: [image] } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'model_without_vision' });
    expect((await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.messages).toEqual([]);
    const fake = await answer(gateway, session, id, { model: 'llava', message: { content: 'Look', images: ['data:image/png;base64,AAAA'] } });
    expect(fake.status).toBe(400);
    // Turns the browser stores itself get the same check.
    const stored = await call<{ error: { param: string } }>(gateway, session, 'POST', `/ui/v1/chats/${id}/messages`, { messages: [{ role: 'user', content: 'x', images: ['data:image/gif;base64,AAAA'] }] });
    expect(stored.status).toBe(400);
    expect(stored.body.error.param).toBe('messages[0].images[0]');
    const events = await readEvents(await answer(gateway, session, id, { model: 'llava', message: { content: 'Look', images: [image] } }));
    expect(events.at(-1)!.type).toBe('done');
    const request = backend.seen.at(-1) as { messages: { images?: string[] }[] };
    expect(request.messages.at(-1)!.images).toEqual([PNG]);
    expect((await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.messages[0]!.images).toEqual([image]);
  });
});

describe.each(testDialects())('chats encrypted at rest on %s', (dialect) => {
  let store: Store;
  let gateway: IdentityGateway;
  const SECRET = 'Platypus-orchestra-lemon';
  const email = `frank-${dialect}@uni.example`;

  beforeAll(async () => {
    store = await openTestStore(dialect);
    gateway = await startIdentityGateway([new ScriptedBackend({ models: ['tiny:latest'], words: WORDS })], { store, configText: configText(true) });
    await gateway.identity.admin.addUser('test', { email, roles: ['student'], password: 'first-password-1' });
  });
  afterAll(async () => {
    await gateway?.close();
    await store?.close();
  });

  it('stores no chat text in the database, opens it for the user\'s sessions, and survives password change, reset and recovery', async () => {
    let session = await login(gateway, email, 'first-password-1');
    await call(gateway, session, 'POST', '/auth/agreement/accept', { version: (await call<{ version: string }>(gateway, session, 'GET', '/auth/agreement')).body.version });
    const id = (await call<UiChat>(gateway, session, 'POST', '/ui/v1/chats', { system_prompt: `Remember ${SECRET}` })).body.id;
    await readEvents(await answer(gateway, session, id, { model: 'tiny', message: { content: `My word is ${SECRET}` } }));

    const rows = await store.db.selectFrom('chat_messages').select(['content']).where('chat_id', '=', id).execute();
    const chat = await store.db.selectFrom('chats').select(['title', 'system_prompt']).where('id', '=', id).executeTakeFirstOrThrow();
    for (const value of [...rows.map((r) => r.content), chat.title, chat.system_prompt!]) {
      expect(value.startsWith('fx1:')).toBe(true);
      expect(value).not.toContain(SECRET);
      expect(value).not.toContain('Circles');
    }
    const readBack = (await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body;
    expect(readBack.messages.map((m) => m.content)).toEqual([`My word is ${SECRET}`, WORDS.join('')]);
    expect(readBack.system_prompt).toBe(`Remember ${SECRET}`);
    const exported = await fetch(`${gateway.url}/ui/v1/chats/export?format=json`, { headers: headersOf(session) });
    expect(await exported.text()).toContain(SECRET);
    // The user's own personal-data export is readable with their session's key; an administrator's stays sealed.
    const mine = await fetch(`${gateway.url}/ui/v1/me/export`, { headers: headersOf(session) });
    expect(mine.status).toBe(200);
    const myData = await mine.text();
    expect(myData).toContain(`My word is ${SECRET}`);
    expect(myData).not.toContain('"fx1:');
    const byAdmin = JSON.stringify(await gateway.app.privacy.exportUser('test', email));
    expect(byAdmin).not.toContain(SECRET);
    expect(byAdmin).toContain('"fx1:');

    // A recovery key, then the user's own password change: the new password opens the chats.
    const recovery = (await call<{ recovery_key: string }>(gateway, session, 'POST', '/ui/v1/chat-key/recovery')).body.recovery_key;
    expect((await call(gateway, session, 'POST', '/auth/password', { current_password: 'first-password-1', new_password: 'second-password-2' })).status).toBe(204);
    session = await login(gateway, email, 'second-password-2');
    expect((await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.messages[0]!.content).toBe(`My word is ${SECRET}`);

    // An administrator resets the password: the chats stay closed to the new password...
    await gateway.identity.admin.setPassword('test', email, 'admin-set-password-3');
    session = await login(gateway, email, 'admin-set-password-3');
    const locked = await call<{ error: { code: string } }>(gateway, session, 'GET', `/ui/v1/chats/${id}`);
    expect(locked.status).toBe(403);
    expect(locked.body.error.code).toBe('chats_locked');
    expect((await call<{ unlocked: boolean }>(gateway, session, 'GET', '/ui/v1/chat-key')).body).toMatchObject({ enabled: true, unlocked: false, recovery_key: true });
    // ...until the user's recovery key opens them, and wraps them for the new password.
    expect((await call(gateway, session, 'POST', '/ui/v1/chat-key/unlock', { recovery_key: 'WRONG-KEY' })).status).toBe(400);
    expect((await call(gateway, session, 'POST', '/ui/v1/chat-key/unlock', { recovery_key: recovery, password: 'admin-set-password-3' })).status).toBe(204);
    expect((await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.messages[1]!.content).toBe(WORDS.join(''));
    session = await login(gateway, email, 'admin-set-password-3');
    expect((await call<UiChat>(gateway, session, 'GET', `/ui/v1/chats/${id}`)).body.title).toBe(`My word is ${SECRET}`);

    // Without a recovery key, a reset password starts a new key: old chats are listed locked, new ones work.
    await gateway.identity.admin.addUser('test', { email: `no-recovery-${email}`, roles: ['student'], password: 'first-password-1' });
    let other = await login(gateway, `no-recovery-${email}`, 'first-password-1');
    await call(gateway, other, 'POST', '/auth/agreement/accept', { version: (await call<{ version: string }>(gateway, other, 'GET', '/auth/agreement')).body.version });
    const old = (await call<UiChat>(gateway, other, 'POST', '/ui/v1/chats', { title: 'Before the reset' })).body.id;
    await gateway.identity.admin.setPassword('test', `no-recovery-${email}`, 'admin-set-password-4');
    other = await login(gateway, `no-recovery-${email}`, 'admin-set-password-4');
    const listed = (await call<{ data: { id: string; title: string; locked: boolean }[] }>(gateway, other, 'GET', '/ui/v1/chats')).body.data;
    expect(listed).toEqual([expect.objectContaining({ id: old, title: '', locked: true })]);
    expect((await call(gateway, other, 'GET', `/ui/v1/chats/${old}`)).status).toBe(403);
    const fresh = await call<UiChat>(gateway, other, 'POST', '/ui/v1/chats', { title: 'After the reset' });
    expect(fresh.status).toBe(201);
    expect((await call<UiChat>(gateway, other, 'GET', `/ui/v1/chats/${fresh.body.id}`)).body.title).toBe('After the reset');

    // Erasure removes the chats and the keys with the account.
    await gateway.app.privacy.eraseUser('test', email);
    expect(await store.db.selectFrom('chat_keys').selectAll().where('user_id', '=', session.userId).execute()).toEqual([]);
    expect(await store.db.selectFrom('chat_messages').selectAll().where('chat_id', '=', id).execute()).toEqual([]);
  });
});
