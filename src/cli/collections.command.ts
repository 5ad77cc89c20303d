import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { Collection, CollectionDocument, UpdateCollectionRequest } from '../api/collections.js';
import { buildCourseServices, type CourseServices } from '../services/build-services.js';
import { formatBytes } from '../services/courses/collection.service.js';
import type { CourseActor } from '../services/courses/course-access.js';
import type { IngestionOutcome } from '../services/courses/ingestion-worker.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, print, printJson, shortTime, withIdentity, type IdentityContext } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

interface SettingsOptions extends Options {
  description?: string;
  instructions?: string;
  model?: string;
  strictness?: string;
  refusal?: string;
  topK?: string;
}

/** The CLI acts as an operator: it may manage every collection (like an admin), audited as `cli:<os user>`. */
async function withCourses<T>(configPath: string | undefined, work: (courses: CourseServices, actor: CourseActor, context: IdentityContext) => Promise<T>): Promise<T> {
  return withIdentity(configPath, (context) => {
    const courses = buildCourseServices(context.config, context.store, { audit: context.identity.audit });
    return work(courses, { admin: true, label: context.actor }, context);
  });
}

function settingsOf(options: SettingsOptions): UpdateCollectionRequest {
  const settings: UpdateCollectionRequest = {};
  if (options.description !== undefined) settings.description = options.description;
  if (options.instructions !== undefined) settings.instructions = options.instructions;
  if (options.model !== undefined) settings.chat_model = options.model;
  if (options.strictness !== undefined) {
    if (options.strictness !== 'strict' && options.strictness !== 'lenient') throw new CliError('--strictness must be strict or lenient.');
    settings.strictness = options.strictness;
  }
  if (options.refusal !== undefined) settings.refusal_text = options.refusal;
  if (options.topK !== undefined) {
    const topK = Number(options.topK);
    if (!Number.isInteger(topK) || topK < 1 || topK > 20) throw new CliError('--top-k must be a whole number from 1 to 20.');
    settings.top_k = topK;
  }
  return settings;
}

function withSettingsOptions(command: Command): Command {
  return command
    .option('--description <text>', 'what the course bot is for, shown to the course\'s members')
    .option('--instructions <text>', 'the bot\'s instructions (a system prompt before the excerpts)')
    .option('--model <model>', 'the chat model that answers (default: courses.default_chat_model)')
    .option('--strictness <mode>', 'strict (refuse when the material has nothing relevant; default) or lenient')
    .option('--refusal <text>', 'what a strict bot answers when the material has nothing relevant')
    .option('--top-k <n>', 'excerpts given to the model per question (1-20)');
}

function describeCollection(c: Collection): string {
  return [
    `${c.name} (model ${c.model}, course "${c.group.name}", id ${c.id})`,
    c.description ? `  ${c.description}` : undefined,
    `  chat model:  ${c.chat_model ?? '(courses.default_chat_model)'}`,
    `  strictness:  ${c.strictness}, ${c.top_k} excerpts per question`,
    `  documents:   ${c.documents} (${c.chunks} passages)`,
    c.instructions ? `  instructions: ${c.instructions}` : undefined,
  ].filter((line) => line !== undefined).join('\n') + '\n';
}

function documentRows(documents: readonly CollectionDocument[]): string {
  return formatTable(['NAME', 'STATUS', 'PAGES', 'CHUNKS', 'SIZE', 'UPDATED'], documents.map((d) => [
    d.name, d.status === 'failed' ? `failed: ${d.error ?? ''}` : d.status, d.pages === null ? '-' : String(d.pages),
    d.chunks === null ? '-' : String(d.chunks), formatBytes(d.bytes), shortTime(d.updated_at),
  ]));
}

/** One bar over every file: ingestion progress of the current document, files done so far. */
function ingestionBar(total: number, enabled: boolean) {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: ' {bar} {percentage}% | {file} ({index}/{files})', stream: process.stderr, hideCursor: true });
  bar.start(1000, 0, { file: '', index: 0, files: total });
  let index = 0;
  let current = '';
  return {
    update: (name: string, done: number, of: number) => {
      if (name !== current) {
        current = name;
        index++;
      }
      const share = of > 0 ? done / of : 0;
      bar.update(Math.round(((index - 1 + share) / total) * 1000), { file: name, index, files: total });
    },
    stop: () => bar.stop(),
  };
}

async function readFiles(paths: readonly string[], limit: number): Promise<{ path: string; name: string; content: Uint8Array }[]> {
  const files = [];
  for (const path of paths) {
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new CliError(`${path} is not a file.`);
      size = info.size;
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError(`Cannot read ${path}: ${(error as Error).message}`);
    }
    if (size > limit) throw new CliError(`${path} is ${formatBytes(size)}, more than the ${formatBytes(limit)} a document may have (rag.max_upload_bytes).`);
    files.push({ path, name: basename(path), content: await readFile(path) });
  }
  return files;
}

export function registerCollectionsCommand(program: Command): void {
  const collections = program.command('collections').description('course bots: collections of course material and their documents');

  withSettingsOptions(collections.command('create')
    .description('create a collection (the course bot course:<name>) for a course')
    .argument('<name>', 'unique name: lower-case letters, digits, ".", "_", "-"')
    .requiredOption('--group <group>', 'the course (group) it belongs to, by id or name'))
    .option(...CONFIG_OPTION)
    .option('--json', 'print the collection as JSON')
    .action(async (name: string, options: SettingsOptions & { group: string }) => {
      const created = await withCourses(options.config, (courses, actor) =>
        courses.collections.create(actor, { name, group: options.group, ...settingsOf(options) }));
      if (options.json) return printJson(created);
      print(`Created collection "${created.name}" for "${created.group.name}". Its members ask ${created.model}; add documents with \`flexi collections add ${created.name} <file>…\`.\n`);
    });

  withSettingsOptions(collections.command('update')
    .description('change a collection\'s bot settings')
    .argument('<name>', 'the collection'))
    .option(...CONFIG_OPTION)
    .option('--json', 'print the collection as JSON')
    .action(async (name: string, options: SettingsOptions) => {
      const updated = await withCourses(options.config, (courses, actor) => courses.collections.update(actor, name, settingsOf(options)));
      if (options.json) return printJson(updated);
      print(describeCollection(updated));
    });

  collections.command('add')
    .description('add documents (PDF, Markdown, HTML, text, DOCX) and wait until they are indexed; a file of the same name is replaced')
    .argument('<name>', 'the collection')
    .argument('<files...>', 'files to add; each document is named by its file name')
    .option(...CONFIG_OPTION)
    .option('--json', 'print each document with its status, pages and chunks as JSON')
    .action(async (name: string, paths: string[], options: Options) => {
      const result = await withCourses(options.config, async (courses, actor) => {
        await courses.collections.access.forOwner(actor, name);
        const files = await readFiles(paths, courses.collections.maxUploadBytes);
        const uploads = [];
        for (const file of files) {
          uploads.push({ path: file.path, ...(await courses.collections.upload(actor, name, { fileName: file.name, content: file.content })) });
        }
        const pending = uploads.filter((u) => u.document.status === 'queued').map((u) => u.document.id);
        const bar = ingestionBar(pending.length, !options.json && process.stderr.isTTY === true && pending.length > 0);
        let outcomes: IngestionOutcome[];
        try {
          outcomes = await courses.ingestion.drain(pending, (document, done, total) => bar.update(document.name, done, total));
        } finally {
          bar.stop();
        }
        const current = new Map((await courses.collections.listDocuments(actor, name)).map((d) => [d.id, d]));
        const documents = uploads.map((u) => ({ path: u.path, change: u.change, document: current.get(u.document.id) ?? u.document }));
        return { documents, outcomes };
      });
      if (options.json) {
        printJson(result.documents.map(({ path, change, document }) => ({ file: path, change, ...document })));
      } else {
        for (const { change, document } of result.documents) {
          const what = document.status === 'ready' ? `${document.pages === null ? '' : `${document.pages} pages, `}${document.chunks} passages` : document.status === 'failed' ? `failed: ${document.error}` : document.status;
          print(`${document.name}: ${change === 'unchanged' ? 'unchanged' : what}\n`);
        }
      }
      const failed = result.documents.filter((d) => d.document.status === 'failed');
      if (failed.length > 0) process.exitCode = 1;
    });

  collections.command('list')
    .description('list collections')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options) => {
      const list = await withCourses(options.config, (courses, actor) => courses.collections.list(actor));
      if (options.json) return printJson(list);
      if (list.length === 0) return print('No collections yet. Create one with `flexi collections create <name> --group <course>`.\n');
      print(formatTable(['NAME', 'COURSE', 'DOCUMENTS', 'PASSAGES', 'CHAT MODEL', 'MODE'], list.map((c) => [
        c.name, c.group.name, String(c.documents), String(c.chunks), c.chat_model ?? '(default)', c.strictness,
      ])));
    });

  collections.command('show')
    .description('show a collection, its settings and documents')
    .argument('<name>', 'the collection')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async (name: string, options: Options) => {
      const { collection, documents } = await withCourses(options.config, async (courses, actor) => ({
        collection: await courses.collections.get(actor, name), documents: await courses.collections.listDocuments(actor, name),
      }));
      if (options.json) return printJson({ ...collection, documents_list: documents });
      print(describeCollection(collection));
      if (documents.length > 0) print(`\n${documentRows(documents)}`);
    });

  collections.command('rm')
    .description('delete a collection with its documents and index')
    .argument('<name>', 'the collection')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, options: Options) => {
      const deleted = await withCourses(options.config, (courses, actor) => courses.collections.delete(actor, name));
      if (options.json) return printJson({ id: deleted.id, name: deleted.name, deleted: true });
      print(`Deleted collection "${deleted.name}" and its documents.\n`);
    });

  collections.command('docs')
    .description('list a collection\'s documents with status, pages and passages')
    .argument('<name>', 'the collection')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (name: string, options: Options) => {
      const documents = await withCourses(options.config, (courses, actor) => courses.collections.listDocuments(actor, name));
      if (options.json) return printJson(documents);
      if (documents.length === 0) return print(`No documents yet. Add some with \`flexi collections add ${name} <file>…\`.\n`);
      print(documentRows(documents));
    });

  collections.command('remove-doc')
    .description('remove a document (and its passages) from a collection')
    .argument('<name>', 'the collection')
    .argument('<document>', 'the document\'s name (its file name) or id')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the removed document as JSON')
    .action(async (name: string, ref: string, options: Options) => {
      const removed = await withCourses(options.config, (courses, actor) => courses.collections.removeDocument(actor, name, ref));
      if (options.json) return printJson({ ...removed, deleted: true });
      print(`Removed "${removed.name}" from ${name}.\n`);
    });

  collections.command('search')
    .description('search a collection as its bot does (passages with scores, and whether a strict bot would answer)')
    .argument('<name>', 'the collection')
    .argument('<query>', 'the question')
    .option('--top-k <n>', 'passages to show (default: the bot\'s top_k)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the search response as JSON')
    .action(async (name: string, query: string, options: Options & { topK?: string }) => {
      const topK = options.topK === undefined ? undefined : Number(options.topK);
      if (topK !== undefined && (!Number.isInteger(topK) || topK < 1 || topK > 50)) throw new CliError('--top-k must be a whole number from 1 to 50.');
      const result = await withCourses(options.config, (courses, actor) => courses.collections.search(actor, name, query, topK));
      if (options.json) return printJson(result);
      if (result.data.length === 0) return print('Nothing found.\n');
      result.data.forEach((hit, i) => {
        const where = [hit.document, hit.page === undefined ? undefined : `p. ${hit.page}${hit.page_end ? `–${hit.page_end}` : ''}`, hit.section].filter(Boolean).join(', ');
        print(`[${i + 1}] ${hit.score.toFixed(3)}  ${where}\n    ${hit.text.replace(/\s+/g, ' ').slice(0, 240)}\n`);
      });
      print(result.relevant ? 'Relevant: a strict bot answers from these.\n' : 'Not relevant enough: a strict bot refuses this question.\n');
    });
}
