import { request as httpRequest } from 'node:http';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, CollectionDocument, CollectionSearchResponse } from '../../src/api/collections.js';
import type { ChatRequest } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, testDialects } from '../helpers/db.js';
import { bearer, startIdentityGateway, userWithKey, type IdentityGateway } from '../helpers/identity-gateway.js';
import { ScriptedBackend } from '../helpers/scripted-backend.js';

const SCRIPT = `# Statistik 1: Organisation

## Prüfungsanmeldung

Die Anmeldung zur Klausur erfolgt bis zum 15. Januar über das Prüfungsportal. Wer die Frist versäumt,
kann erst im nächsten Semester an der Klausur teilnehmen. Eine Abmeldung ist bis sieben Tage vor dem
Termin ohne Angabe von Gründen möglich.

## Hausaufgaben

Die Hausaufgaben erscheinen jeden Montag im Moodle-Kurs und werden am folgenden Montag abgegeben.
Wer mindestens die Hälfte der Punkte erreicht, erhält einen Bonus von fünf Prozent auf die Klausur.

## Linear regression

Linear regression estimates the coefficients by ordinary least squares: it minimises the sum of the
squared residuals between the observed values and the fitted line.
`;

/** Two pages; the variance is explained on page 2 only. */
async function lecturePdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const lines = [
    ['Kapitel 1: Lagemaße', 'Der Median teilt die geordnete Stichprobe in zwei gleich große Hälften.', 'Das arithmetische Mittel ist die Summe der Werte geteilt durch ihre Anzahl.'],
    ['Kapitel 2: Streuungsmaße', 'Die Varianz ist die mittlere quadratische Abweichung vom arithmetischen Mittel.', 'Die Standardabweichung ist die Wurzel aus der Varianz.'],
  ];
  for (const page of lines) {
    const p = pdf.addPage([595, 842]);
    page.forEach((text, i) => p.drawText(text, { x: 50, y: 780 - i * 24, size: i === 0 ? 16 : 11, font }));
  }
  return pdf.save();
}

const CONFIG = [
  'courses:\n  default_chat_model: tiny',
  'rag:\n  max_upload_bytes: 65536',
  'roles:\n  student:\n    models: ["tiny*"]\n  staff:\n    models: ["*"]',
].join('\n');

for (const dialect of testDialects()) {
  describe(`course bots [${dialect}]`, () => {
    let store: Store;
    let gateway: IdentityGateway;
    let backend: ScriptedBackend;
    let groupId: string;
    let owner: string;
    let member: string;
    let stranger: string;

    const call = (method: string, url: string, key: string, body?: unknown, headers: Record<string, string> = {}) => gateway.app.server.inject({
      method: method as 'GET', url, headers: { ...bearer(key), ...(body === undefined || body instanceof Uint8Array || typeof body === 'string' ? {} : { 'content-type': 'application/json' }), ...headers },
      payload: body === undefined ? undefined : body instanceof Uint8Array ? Buffer.from(body) : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const upload = (key: string, name: string, content: Uint8Array | string, collection = 'statistik') =>
      call('POST', `/ui/v1/collections/${collection}/documents?name=${encodeURIComponent(name)}`, key, typeof content === 'string' ? Buffer.from(content) : content, { 'content-type': 'application/octet-stream' });
    const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

    beforeAll(async () => {
      store = await openTestStore(dialect);
      backend = new ScriptedBackend({ models: ['tiny:latest'], words: ['Bis', ' zum', ' 15.', ' Januar', ' [1]', '.'] });
      gateway = await startIdentityGateway([backend], { store, configText: CONFIG });
      const admin = gateway.identity.admin;
      owner = (await userWithKey(gateway.identity, 'lecturer@uni.example', ['staff'])).key;
      const memberUser = await userWithKey(gateway.identity, 'student@uni.example', ['student']);
      member = memberUser.key;
      stranger = (await userWithKey(gateway.identity, 'other@uni.example', ['student'])).key;
      const group = await admin.createGroup('test', { name: 'Statistik 1' });
      groupId = group.id;
      await admin.addMember('test', group.id, 'lecturer@uni.example', 'owner');
      await admin.addMember('test', group.id, memberUser.user.id, 'member');

      const created = await call('POST', '/ui/v1/collections', owner, { name: 'statistik', group: 'Statistik 1', instructions: 'Du bist der Tutor von Statistik 1.' });
      expect(created.statusCode).toBe(201);
      expect(created.json<Collection>()).toMatchObject({ model: 'course:statistik', role: 'owner', strictness: 'strict' });
      // A path in the name is dropped: the document is named by its file name only.
      const script = await upload(owner, '../../etc/Skript.md', SCRIPT);
      expect(script.statusCode).toBe(201);
      expect(script.json().document).toMatchObject({ name: 'Skript.md', status: 'queued' });
      expect((await upload(owner, 'Vorlesung.pdf', await lecturePdf())).statusCode).toBe(201);
      await gateway.app.courses.ingestion.idle();
    });

    afterAll(async () => {
      await gateway?.close();
      await store?.close();
    });

    it('ingests the uploads off the request path: pages and passages per document', async () => {
      const docs = (await call('GET', '/ui/v1/collections/statistik/documents', owner)).json<{ data: CollectionDocument[] }>().data;
      expect(docs.map((d) => [d.name, d.status, d.format])).toEqual([['Skript.md', 'ready', 'markdown'], ['Vorlesung.pdf', 'ready', 'pdf']]);
      expect(docs.find((d) => d.name === 'Vorlesung.pdf')).toMatchObject({ pages: 2 });
      for (const doc of docs) expect(doc.chunks).toBeGreaterThan(0);
      // The same file again changes nothing and queues nothing.
      const again = await upload(owner, 'Skript.md', SCRIPT);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ change: 'unchanged', document: { status: 'ready' } });
    });

    it('answers a member through the official openai client with sources, non-streamed and streamed', async () => {
      const seen = backend.seen.length;
      const question = 'Bis wann muss ich mich zur Klausur anmelden?';
      const reply = await client(member).chat.completions.create({ model: 'course:statistik', messages: [{ role: 'user', content: question }] });
      expect(reply.choices[0]!.message.content).toBe('Bis zum 15. Januar [1].');
      const sources = (reply as unknown as { sources: { index: number; document: string; section?: string; excerpt: string }[] }).sources;
      expect(sources[0]).toMatchObject({ index: 1, document: 'Skript.md' });
      expect(sources[0]!.excerpt).toContain('15. Januar');
      expect((reply as unknown as { refused?: boolean }).refused).toBeUndefined();
      // The real model got the instructions and the numbered excerpts; the node never saw the virtual name.
      const sent = backend.seen[seen] as ChatRequest;
      expect(sent.model).toBe('tiny:latest');
      expect(sent.messages[0]!.role).toBe('system');
      expect(sent.messages[0]!.content).toContain('Du bist der Tutor von Statistik 1.');
      expect(sent.messages[0]!.content).toMatch(/\[1\] \(Skript\.md[^)]*\)\n[\s\S]*Prüfungsportal/);
      expect(sent.messages.at(-1)).toEqual({ role: 'user', content: question });

      const stream = await client(member).chat.completions.create({ model: 'course:statistik', stream: true, messages: [{ role: 'user', content: question }] });
      let text = '';
      let last: unknown;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        last = chunk;
      }
      expect(text).toBe('Bis zum 15. Januar [1].');
      expect(last).toMatchObject({ choices: [] });
      expect((last as { sources: unknown[] }).sources[0]).toMatchObject({ index: 1, document: 'Skript.md' });
    });

    it('cites the page of a PDF passage', async () => {
      const reply = await client(member).chat.completions.create({ model: 'course:statistik', messages: [{ role: 'user', content: 'Was ist die Standardabweichung?' }] });
      const sources = (reply as unknown as { sources: { document: string; page?: number }[] }).sources;
      expect(sources[0]).toMatchObject({ document: 'Vorlesung.pdf', page: 2 });
      // The footnote's link: the original file, for the course's members only.
      const file = await call('GET', '/ui/v1/collections/statistik/documents/Vorlesung.pdf/file', member);
      expect(file.statusCode).toBe(200);
      expect(file.headers['content-type']).toBe('application/pdf');
      expect(file.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
      expect((await call('GET', '/ui/v1/collections/statistik/documents/Vorlesung.pdf/file', stranger)).statusCode).toBe(404);
    });

    it('refuses in strict mode without asking a model when the material has no answer', async () => {
      const seen = backend.seen.length;
      const reply = await client(member).chat.completions.create({ model: 'course:statistik', messages: [{ role: 'user', content: 'Wie viele Monde hat der Jupiter?' }] });
      expect(reply.choices[0]!.message.content).toContain('Kursmaterial');
      expect(reply).toMatchObject({ sources: [], refused: true });
      expect(backend.seen.length).toBe(seen);
    });

    it('answers on Ollama\'s /api/chat with the sources in the final object', async () => {
      const ollama = new Ollama({ host: gateway.url, headers: bearer(member) });
      const reply = await ollama.chat({ model: 'course:statistik', messages: [{ role: 'user', content: 'Bis wann ist die Prüfungsanmeldung?' }] });
      expect(reply.message.content).toBe('Bis zum 15. Januar [1].');
      expect(reply.done).toBe(true);
      expect((reply as unknown as { sources: unknown[] }).sources[0]).toMatchObject({ index: 1, document: 'Skript.md' });
      let final: unknown;
      for await (const part of await ollama.chat({ model: 'course:statistik', stream: true, messages: [{ role: 'user', content: 'Bis wann ist die Prüfungsanmeldung?' }] })) final = part;
      expect(final).toMatchObject({ done: true });
      expect((final as { sources: unknown[] }).sources[0]).toMatchObject({ document: 'Skript.md' });
    });

    it('does not exist for anyone outside the course: 404 on chat and search, not listed', async () => {
      const error = await client(stranger).chat.completions.create({ model: 'course:statistik', messages: [{ role: 'user', content: 'Hallo?' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
      const search = await call('POST', '/v1/collections/statistik/search', stranger, { query: 'Klausur' });
      expect(search.statusCode).toBe(404);
      expect(search.json().error.code).toBe('not_found');
      expect((await client(stranger).models.list()).data.map((m) => m.id)).not.toContain('course:statistik');
      expect((await client(member).models.list()).data.map((m) => m.id)).toContain('course:statistik');
      expect((await call('GET', '/ui/v1/collections/statistik', stranger)).statusCode).toBe(404);
      expect((await call('GET', '/ui/v1/collections', stranger)).json().data).toEqual([]);
    });

    it('searches as specified for tools: passages with document, page, text, score and the strict decision', async () => {
      const response = await call('POST', '/v1/collections/statistik/search', member, { query: 'Wann werden die Hausaufgaben veröffentlicht?', top_k: 2 });
      expect(response.statusCode).toBe(200);
      const body = response.json<CollectionSearchResponse>();
      expect(body.relevant).toBe(true);
      expect(body.data.length).toBeGreaterThan(0);
      expect(body.data.length).toBeLessThanOrEqual(2);
      expect(body.data[0]).toMatchObject({ document: 'Skript.md', text: expect.stringContaining('Montag'), score: expect.any(Number) });
      const nothing = (await call('POST', '/v1/collections/statistik/search', member, { query: 'Jupitermonde Raumfahrt' })).json<CollectionSearchResponse>();
      expect(nothing.relevant).toBe(false);

      for (const [body, param] of [[{ query: '' }, 'query'], [{ query: 'x', top_k: 0 }, 'top_k'], [{}, 'query'], [{ query: 'x', extra: 1 }, undefined]] as const) {
        const bad = await call('POST', '/v1/collections/statistik/search', member, body);
        expect(bad.statusCode).toBe(400);
        if (param) expect(bad.json().error.param).toBe(param);
      }
    });

    it('accounts a bot\'s questions to the user and the course', async () => {
      await gateway.usage.flush();
      const rows = await store.personalData.dumpTable('usage_records');
      const course = rows.filter((r) => r.group_id === groupId);
      expect(course.length).toBeGreaterThan(0);
      expect(course.every((r) => typeof r.subject === 'string' && String(r.subject).startsWith('u:'))).toBe(true);
    });

    it('asks the model anyway in lenient mode, and names the field of a question it cannot plan', async () => {
      await call('PATCH', '/ui/v1/collections/statistik', owner, { strictness: 'lenient' });
      try {
        const seen = backend.seen.length;
        const reply = await client(member).chat.completions.create({ model: 'course:statistik', messages: [{ role: 'user', content: 'Wie viele Monde hat der Jupiter?' }] });
        expect((reply as unknown as { refused?: boolean }).refused).toBeUndefined();
        expect(backend.seen.length).toBe(seen + 1);
        expect((backend.seen[seen] as ChatRequest).messages[0]!.content).toContain('do not invent an answer');
      } finally {
        await call('PATCH', '/ui/v1/collections/statistik', owner, { strictness: 'strict' });
      }
      const noQuestion = await call('POST', '/v1/chat/completions', member, { model: 'course:statistik', messages: [{ role: 'assistant', content: 'Hallo' }] });
      expect(noQuestion.statusCode).toBe(400);
      expect(noQuestion.json().error.param).toBe('messages');
      const empty = await call('POST', '/v1/chat/completions', member, { model: 'course:', messages: [{ role: 'user', content: 'x' }] });
      expect(empty.statusCode).toBe(404);
      // Case and odd names find nothing else: the name is the model name.
      expect((await call('POST', '/v1/chat/completions', member, { model: 'course:STATISTIK', messages: [{ role: 'user', content: 'Klausur?' }] })).statusCode).toBe(200);
      expect((await call('POST', '/v1/chat/completions', member, { model: 'course:../statistik', messages: [{ role: 'user', content: 'x' }] })).statusCode).toBe(404);
    });

    it('lets only owners change the collection: members get 403, strangers 404', async () => {
      expect((await upload(member, 'x.md', '# x')).statusCode).toBe(403);
      expect((await upload(stranger, 'x.md', '# x')).statusCode).toBe(404);
      expect((await call('PATCH', '/ui/v1/collections/statistik', member, { top_k: 3 })).statusCode).toBe(403);
      expect((await call('POST', '/ui/v1/collections', stranger, { name: 'mine', group: 'Statistik 1' })).statusCode).toBe(404);
      const patched = await call('PATCH', '/ui/v1/collections/statistik', owner, { top_k: 3, strictness: 'lenient' });
      expect(patched.json()).toMatchObject({ top_k: 3, strictness: 'lenient' });
      const invalid = await call('PATCH', '/ui/v1/collections/statistik', owner, { strictness: 'maybe' });
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json().error.param).toBe('strictness');
      await call('PATCH', '/ui/v1/collections/statistik', owner, { top_k: 5, strictness: 'strict' });
    });

    it('refuses bad uploads with a clear 4xx and stores nothing', async () => {
      const before = (await call('GET', '/ui/v1/collections/statistik/documents', owner)).json().data.length;
      const empty = await upload(owner, 'leer.md', '');
      expect(empty.statusCode).toBe(400);
      const noName = await call('POST', '/ui/v1/collections/statistik/documents', owner, Buffer.from('x'), { 'content-type': 'application/octet-stream' });
      expect(noName.json().error.param).toBe('name');
      expect((await upload(owner, '..', 'x')).json().error.param).toBe('name');
      const big = await upload(owner, 'big.txt', 'x'.repeat(70_000));
      expect(big.statusCode).toBe(413);
      expect(big.json().error.message).toContain('rag.max_upload_bytes');
      // A broken file is stored, then fails with the reason.
      const broken = await upload(owner, 'kaputt.pdf', '%PDF-1.7\nthis is not a pdf');
      expect(broken.statusCode).toBe(201);
      await gateway.app.courses.ingestion.idle();
      const failed = (await call('GET', '/ui/v1/collections/statistik/documents/kaputt.pdf', owner)).json<CollectionDocument>();
      expect(failed.status).toBe('failed');
      expect(failed.error).toBeTruthy();
      expect((await call('DELETE', '/ui/v1/collections/statistik/documents/kaputt.pdf', owner)).statusCode).toBe(200);
      expect((await call('GET', '/ui/v1/collections/statistik/documents', owner)).json().data.length).toBe(before);
    });

    it('refuses a huge upload while it streams: by its Content-Length before reading, or once it passes the limit', async () => {
      const url = new URL(`${gateway.url}/ui/v1/collections/statistik/documents?name=huge.bin`);
      // 1 GB announced, a few bytes sent: the answer comes at once, without waiting for the rest.
      const announced = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(url, { method: 'POST', headers: { ...bearer(owner), 'content-type': 'application/octet-stream', 'content-length': String(1024 ** 3) } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', () => undefined);
        req.write(Buffer.alloc(1024));
      });
      expect(announced.status).toBe(413);
      expect(JSON.parse(announced.body).error.code).toBe('payload_too_large');
      // No length announced (chunked): cut off as soon as more than the limit arrived.
      const chunk = new Uint8Array(16 * 1024);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 1024 * 1024) controller.close();
          else {
            sent += chunk.length;
            controller.enqueue(chunk);
          }
        },
      });
      const streamed = await fetch(url, { method: 'POST', headers: { ...bearer(owner), 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit);
      expect(streamed.status).toBe(413);
      const names = (await call('GET', '/ui/v1/collections/statistik/documents', owner)).json().data.map((d: CollectionDocument) => d.name);
      expect(names).not.toContain('huge.bin');
    });
  });
}
