import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  collectionSearchRequestSchema, createCollectionRequestSchema, updateCollectionRequestSchema, type UploadDocumentResponse,
} from '../api/collections.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import { tooLarge, type CollectionService } from '../services/courses/collection.service.js';
import { actorOf } from '../services/courses/course-bot.provider.js';
import type { CourseActor } from '../services/courses/course-access.js';

export interface CollectionRouteDeps {
  collections: CollectionService;
}

function actor(request: FastifyRequest): CourseActor {
  const principal = request.principal;
  if (!principal) throw new FlexiError('unauthorized');
  return actorOf(principal);
}

function param(request: FastifyRequest, name: string): string {
  const value = (request.params as Record<string, string | undefined>)[name];
  if (!value || value.length > 300) throw new FlexiError('not_found', `No such ${name}.`);
  return value;
}

/**
 * Reads an upload's bytes, refusing it (413) as soon as more than `limit` arrived — or at once
 * when its Content-Length says so — so a 1 GB upload costs at most `limit` bytes of memory and
 * is never stored. The error handler then drains what is still coming, within its own bounds,
 * so the client reads the 413 instead of a reset.
 */
async function readBounded(stream: Readable | undefined, declared: number | undefined, limit: number): Promise<Uint8Array> {
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  if (!stream) return new Uint8Array();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      stream.pause();
      throw tooLarge(limit);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/** `Content-Disposition` for a stored file name: a plain ASCII fallback plus the exact name (RFC 6266/5987). */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Types a browser may show inline from the original file; everything else is downloaded as bytes. */
const INLINE_TYPES: Readonly<Record<string, string>> = { pdf: 'application/pdf', text: 'text/plain; charset=utf-8', markdown: 'text/plain; charset=utf-8' };

/**
 * Course collections: `POST /v1/collections/<name>/search` for tools and evaluation (OpenAI-style
 * errors), and the management API under `/ui/v1/collections` for the web UI, API keys and admins.
 * Access is the collection service's: members read and search, owners and admins change,
 * everyone else gets 404.
 */
export async function registerCollectionRoutes(app: FastifyInstance, deps: CollectionRouteDeps): Promise<void> {
  const { collections } = deps;

  app.post('/v1/collections/:name/search', async (request) => {
    const body = parseBody(collectionSearchRequestSchema, request.body);
    return collections.search(actor(request), param(request, 'name'), body.query, body.top_k);
  });

  app.get('/ui/v1/collections', async (request) => ({ data: await collections.list(actor(request)) }));

  app.post('/ui/v1/collections', async (request, reply) => {
    const body = parseBody(createCollectionRequestSchema, request.body);
    return reply.code(201).send(await collections.create(actor(request), body));
  });

  app.get('/ui/v1/collections/:name', async (request) => collections.get(actor(request), param(request, 'name')));

  app.patch('/ui/v1/collections/:name', async (request) => {
    const body = parseBody(updateCollectionRequestSchema, request.body);
    return collections.update(actor(request), param(request, 'name'), body);
  });

  app.delete('/ui/v1/collections/:name', async (request, reply) => {
    await collections.delete(actor(request), param(request, 'name'));
    return reply.code(204).send();
  });

  app.get('/ui/v1/collections/:name/documents', async (request) => ({ data: await collections.listDocuments(actor(request), param(request, 'name')) }));

  app.get('/ui/v1/collections/:name/documents/:document', async (request) =>
    collections.getDocument(actor(request), param(request, 'name'), param(request, 'document')));

  app.delete('/ui/v1/collections/:name/documents/:document', async (request) =>
    ({ deleted: true, document: await collections.removeDocument(actor(request), param(request, 'name'), param(request, 'document')) }));

  app.get('/ui/v1/collections/:name/documents/:document/file', async (request, reply) => {
    const { document, content } = await collections.readFile(actor(request), param(request, 'name'), param(request, 'document'));
    const inline = document.format ? INLINE_TYPES[document.format] : undefined;
    return reply
      .type(inline ?? 'application/octet-stream')
      .header('content-disposition', inline ? contentDisposition(document.name) : contentDisposition(document.name).replace(/^inline/, 'attachment'))
      // The file is the course's, served to its members: no shared cache may keep it, and no script in it may run here.
      .header('cache-control', 'private, no-store')
      // Chromium shows a PDF in its own viewer, a plugin the document must be allowed to embed;
      // anything else is a sandbox where no script of the file can run.
      .header('content-security-policy', document.format === 'pdf' ? "default-src 'none'; object-src 'self'; frame-ancestors 'self'" : "default-src 'none'; sandbox")
      .header('x-content-type-options', 'nosniff')
      .send(Buffer.from(content));
  });

  app.post('/ui/v1/collections/:name/search', async (request) => {
    const body = parseBody(collectionSearchRequestSchema, request.body);
    return collections.search(actor(request), param(request, 'name'), body.query, body.top_k);
  });

  // Uploads: the raw file as the body (any Content-Type; the web UI sends the File as is), its
  // name in `?name=`. A scope of their own, so this one route streams its body instead of
  // having it parsed as JSON under `server.body_limit_bytes`. Awaited: a scope still pending
  // when the web UI's public static plugin loads would have its route marked public.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.post('/ui/v1/collections/:name/documents', async (request, reply) => {
      const who = actor(request);
      const name = param(request, 'name');
      const fileName = (request.query as Record<string, unknown>).name;
      if (typeof fileName !== 'string' || fileName === '') {
        throw new FlexiError('invalid_request', 'Name the file in the query: ?name=<file name>.', { param: 'name' });
      }
      // Access first: a stranger's upload is refused before a byte of it is read.
      await collections.access.forOwner(who, name);
      const length = request.headers['content-length'];
      const declared = length === undefined ? undefined : Number(length);
      const content = await readBounded(request.body as Readable | undefined, Number.isFinite(declared) ? declared : undefined, collections.maxUploadBytes);
      const result: UploadDocumentResponse = await collections.upload(who, name, {
        fileName, contentType: request.headers['content-type'], content,
      });
      return reply.code(result.change === 'created' ? 201 : 200).send(result);
    });
  });
}
