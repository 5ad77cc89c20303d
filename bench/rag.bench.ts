/**
 * Retrieval benchmark of course bots (issue 15): quality on the labelled set in bench/rag/ per
 * configuration, the strict-mode threshold sweep, and speed (indexing pages/s, search latency at
 * 1k and — with --large — 100k chunks) on SQLite and, when FLEXI_TEST_POSTGRES_URL is set, PostgreSQL.
 *
 *   npm run bench:rag [-- --no-speed] [--no-quality] [--large] [--queries 200] [--dialects sqlite,postgres]
 *
 * Quality is deterministic (no timing); the quality test (test/integration/rag-quality.test.ts)
 * checks the same numbers against the targets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chunkDocument, type Chunk } from '../src/rag/chunk.js';
import { extractDocument } from '../src/rag/extract.js';
import { RagIndexService } from '../src/services/rag/rag-index.service.js';
import type { DatabaseDialect } from '../src/store/database.js';
import { openDatabase, type Store } from '../src/store/store.js';
import pg from 'pg';
import { CONFIGURATIONS, LIMITS, QUESTIONS, courseFiles, evaluate, indexCourses, metricsOf, type QuestionKind, type QuestionResult } from './rag/evaluate.js';

const { values: args } = parseArgs({
  options: {
    'no-speed': { type: 'boolean', default: false },
    'no-quality': { type: 'boolean', default: false },
    large: { type: 'boolean', default: false },
    queries: { type: 'string', default: '200' },
    dialects: { type: 'string' },
  },
});

const postgresUrl = process.env.FLEXI_TEST_POSTGRES_URL || undefined;
const dialects: DatabaseDialect[] = (postgresUrl ? ['sqlite', 'postgres'] as DatabaseDialect[] : ['sqlite'] as DatabaseDialect[])
  .filter((d) => !args.dialects || args.dialects.split(',').includes(d));
const scratch = mkdtempSync(join(tmpdir(), 'flexi-rag-bench-'));
const schemas: string[] = [];

/** A schema of its own in the shared PostgreSQL database, dropped when the bench ends. */
async function postgresSchemaUrl(): Promise<string> {
  const schema = `flexi_bench_rag_${process.pid}_${schemas.length}`;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; CREATE SCHEMA "${schema}"`);
  await client.end();
  schemas.push(schema);
  const url = new URL(postgresUrl!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function dropSchemas(): Promise<void> {
  if (!postgresUrl || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

async function openStore(dialect: DatabaseDialect, name: string): Promise<Store> {
  const url = dialect === 'postgres' ? await postgresSchemaUrl() : join(scratch, `${name}.sqlite`);
  const store = await openDatabase(url);
  await store.migrate();
  return store;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const f3 = (x: number) => x.toFixed(3);

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

async function quality(): Promise<void> {
  const files = await courseFiles();
  const answerable = QUESTIONS.filter((q) => q.gold).length;
  console.log(`\n## Quality — ${QUESTIONS.length} questions (${answerable} answerable, ${QUESTIONS.length - answerable} unanswerable), top 10 retrieved, strict mode\n`);
  const byConfig = new Map<string, QuestionResult[]>();
  for (const dialect of dialects) {
    const rows: string[][] = [];
    for (const configuration of CONFIGURATIONS) {
      const store = await openStore(dialect, `quality-${configuration.name.replace(/\W+/g, '-')}`);
      const { service } = await indexCourses(store, files, configuration.options);
      const results = await evaluate(service, files, configuration);
      await store.close();
      if (dialect === 'sqlite') byConfig.set(configuration.name, results);
      const m = metricsOf(results);
      rows.push([configuration.name, f3(m.recallAt1), f3(m.recallAt5), f3(m.mrr), pct(m.citationAccuracy), pct(m.refusalPrecision), pct(m.refusalRecall), pct(m.answerableRefused)]);
    }
    console.log(`### ${dialect}\n`);
    console.log(table(['configuration', 'recall@1', 'recall@5', 'MRR', 'citation (page) accuracy', 'refusal precision', 'unanswerable refused (recall)', 'answerable refused'], rows));
    console.log('\nTargets (full text + analysis): recall@5 ≥ 0.9, MRR ≥ 0.75, unanswerable refused ≥ 90 %, answerable refused ≤ 10 %.\n');
  }

  const kinds: QuestionKind[] = ['direct', 'paraphrase', 'distractor', 'code', 'compound', 'cross-page', 'cross-language'];
  console.log('### recall@5 by kind of question (SQLite)\n');
  console.log(table(['configuration', ...kinds.map((k) => `${k} (${QUESTIONS.filter((q) => q.kind === k).length})`)],
    [...byConfig].map(([name, results]) => [name, ...kinds.map((kind) => {
      const of = results.filter((r) => r.question.kind === kind);
      return f3(of.filter((r) => r.rank !== undefined && r.rank <= 5).length / Math.max(1, of.length));
    })])));

  const analysed = byConfig.get('full text + analysis')!;
  console.log('\n### Strict-mode threshold (`rag.min_relevance`) on full text + analysis\n');
  const rows = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6].map((t) => {
    const unanswerable = analysed.filter((r) => !r.question.gold);
    const answerableResults = analysed.filter((r) => r.question.gold);
    return [String(t), pct(unanswerable.filter((r) => r.relevance < t).length / unanswerable.length), pct(answerableResults.filter((r) => r.relevance < t).length / answerableResults.length)];
  });
  console.log(table(['min_relevance', 'unanswerable refused', 'answerable refused'], rows));
}

/** Sentences of the course material, for synthetic collections of any size. */
async function corpusSentences(): Promise<string[]> {
  const files = await courseFiles();
  const out: string[] = [];
  for (const file of [...files.de, ...files.en]) {
    const doc = await extractDocument(file.bytes, file.name, LIMITS);
    for (const block of doc.blocks) out.push(...block.text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 20));
  }
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function speed(): Promise<void> {
  const files = await courseFiles();
  const sentences = await corpusSentences();
  const sizes = args.large ? [1_000, 100_000] : [1_000];
  const queryCount = Number(args.queries);
  const rows: string[][] = [];
  // Each row is also printed as soon as it is measured: a 100k run takes long.
  const record = (row: string[]) => {
    rows.push(row);
    process.stderr.write(`| ${row.join(' | ')} |\n`);
  };
  for (const dialect of dialects) {
    // Indexing pages/s: extract, clean, chunk, analyse and store the two course PDFs, 10 times each.
    {
      const store = await openStore(dialect, 'pages');
      const service = new RagIndexService(store);
      const pdfs = [files.de[0]!, files.en[0]!];
      let pages = 0;
      const started = performance.now();
      for (let i = 0; i < 10; i++) {
        for (const pdf of pdfs) {
          const doc = await extractDocument(pdf.bytes, pdf.name, LIMITS);
          pages += doc.pageCount ?? 1;
          await service.indexDocument('pages', `${pdf.name}-${i}`, chunkDocument(doc));
        }
      }
      const seconds = (performance.now() - started) / 1000;
      record([dialect, `course PDFs, ${pages} pages`, `${(pages / seconds).toFixed(1)} pages/s (extract, clean, chunk, analyse, store)`, '', '']);
      await store.close();
    }
    for (const size of sizes) {
      const store = await openStore(dialect, `speed-${size}`);
      const service = new RagIndexService(store);
      let seed = 42;
      const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const started = performance.now();
      const perDocument = 200;
      for (let d = 0; d * perDocument < size; d++) {
        const chunks: Chunk[] = Array.from({ length: Math.min(perDocument, size - d * perDocument) }, (_, ord) => ({
          ord, text: Array.from({ length: 6 }, () => sentences[Math.floor(random() * sentences.length)]!).join(' ') + ` Dokument ${d} Abschnitt ${ord}.`,
        }));
        await service.indexDocument('speed', `doc-${d}`, chunks);
        if (size >= 10_000 && d % 50 === 0) process.stderr.write(`\r${dialect} ${size}: ${d * perDocument} chunks indexed`);
      }
      if (size >= 10_000) process.stderr.write('\n');
      const indexSeconds = (performance.now() - started) / 1000;
      const latencies: number[] = [];
      for (let i = 0; i < queryCount; i++) {
        const question = QUESTIONS[i % QUESTIONS.length]!;
        const t0 = performance.now();
        await service.search('speed', question.question, { topK: 5 });
        latencies.push(performance.now() - t0);
      }
      latencies.sort((a, b) => a - b);
      record([dialect, `${size.toLocaleString('en')} chunks`, `${(size / indexSeconds).toFixed(0)} chunks/s (analyse, store)`, `${percentile(latencies, 0.5).toFixed(1)} ms`, `${percentile(latencies, 0.99).toFixed(1)} ms`]);
      await store.close();
    }
  }
  console.log(`\n## Speed (${queryCount} searches per size, top 5, full text + analysis; one process, this machine)\n`);
  console.log(table(['database', 'collection', 'indexing', 'search p50', 'search p99'], rows));
}

try {
  if (!args['no-quality']) await quality();
  if (!args['no-speed']) await speed();
} finally {
  rmSync(scratch, { recursive: true, force: true });
  await dropSchemas();
}
