/**
 * Course bots, end to end in one process: how fast uploads are ingested (extract → chunk → index
 * through the IngestionWorker) and what a course bot adds to a question's latency over the same
 * model asked directly (membership check, retrieval, prompt), on SQLite or PostgreSQL.
 *
 *   npm run bench:courses                          (SQLite in memory)
 *   npm run bench:courses -- --postgres <url>      (PostgreSQL, a fresh schema)
 *   npm run bench:courses -- --documents 40 --questions 300
 *
 * The model is a scripted in-process backend answering instantly, so the numbers are Flexi's own
 * work; the retrieval quality lives in `npm run bench:rag`.
 */
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { randomId } from '../src/lib/ids.js';
import { openDatabase } from '../src/store/store.js';
import { ScriptedBackend } from '../test/helpers/scripted-backend.js';

const { values: args } = parseArgs({
  options: {
    documents: { type: 'string', default: '20' },
    sections: { type: 'string', default: '60' },
    questions: { type: 'string', default: '200' },
    postgres: { type: 'string' },
  },
});
const DOCUMENTS = Number(args.documents);
const SECTIONS = Number(args.sections);
const QUESTIONS = Number(args.questions);

const TOPICS = ['Prüfungsanmeldung', 'Hausaufgaben', 'Regression', 'Varianz', 'Stichprobe', 'Konfidenzintervall', 'Hypothesentest', 'Korrelation', 'Median', 'Quantil'];

function document(d: number): string {
  const parts = [`# Skript ${d}`];
  for (let s = 0; s < SECTIONS; s++) {
    const topic = TOPICS[(d + s) % TOPICS.length]!;
    parts.push(`## ${topic} ${d}.${s}`, `Abschnitt ${s} von Dokument ${d} erklärt ${topic} mit Beispiel ${d * 1000 + s}: Die Studierenden berechnen Kennzahlen, `
      + 'vergleichen Verfahren und begründen ihre Wahl. Wichtig sind Voraussetzungen, Grenzen und typische Fehler bei der Anwendung.');
  }
  return parts.join('\n\n');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  let url = ':memory:';
  let dropSchema = async () => {};
  if (args.postgres) {
    const pgUrl = args.postgres;
    const schema = `flexi_bench_${randomId(8).toLowerCase()}`;
    const admin = await openDatabase(args.postgres);
    await admin.db.schema.createSchema(schema).execute();
    await admin.close();
    const u = new URL(args.postgres);
    u.searchParams.set('options', `-c search_path=${schema}`);
    url = u.toString();
    dropSchema = async () => {
      const cleanup = await openDatabase(pgUrl);
      await cleanup.db.schema.dropSchema(schema).cascade().execute();
      await cleanup.close();
    };
  }
  const store = await openDatabase(url);
  await store.migrate();
  const config = loadConfig({ fileText: 'courses:\n  default_chat_model: tiny\nrag:\n  max_upload_bytes: 10485760' });
  const app = await createApp({ config, backends: [new ScriptedBackend({ models: ['tiny:latest'], words: ['Ja', '.'] })], store });
  const admin = app.identity.admin;
  const user = await admin.addUser('bench', { email: 'student@uni.example', roles: ['admin'] });
  const { key } = await admin.createKey('bench', { user: user.id, name: 'bench' });
  const group = await admin.createGroup('bench', { name: 'Statistik' });
  await admin.addMember('bench', group.id, user.id, 'member');
  const operator = { admin: true, label: 'bench' };
  await app.courses.collections.create(operator, { name: 'statistik', group: group.id });

  const texts = Array.from({ length: DOCUMENTS }, (_, d) => document(d));
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const ingestStart = performance.now();
  for (const [d, text] of texts.entries()) {
    await app.courses.collections.upload(operator, 'statistik', { fileName: `skript-${d}.md`, content: Buffer.from(text) });
  }
  await app.courses.ingestion.idle();
  await app.courses.ingestion.drain();
  const ingestMs = performance.now() - ingestStart;
  const docs = await app.courses.collections.listDocuments(operator, 'statistik');
  const chunks = docs.reduce((n, d) => n + (d.chunks ?? 0), 0);
  const failed = docs.filter((d) => d.status !== 'ready').length;

  const ask = async (model: string, question: string): Promise<number> => {
    const start = performance.now();
    const response = await app.server.inject({
      method: 'POST', url: '/v1/chat/completions', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ model, messages: [{ role: 'user', content: question }] }),
    });
    if (response.statusCode !== 200) throw new Error(`${model}: ${response.statusCode} ${response.body}`);
    return performance.now() - start;
  };
  const latencies: Record<string, number[]> = { tiny: [], 'course:statistik': [] };
  for (let i = 0; i < QUESTIONS; i++) {
    const question = `Was muss ich bei ${TOPICS[i % TOPICS.length]} beachten, Beispiel ${i % DOCUMENTS}?`;
    // Interleaved, so that load from elsewhere on the machine hits both alike.
    for (const model of Object.keys(latencies)) latencies[model]!.push(await ask(model, question));
  }

  const dialect = args.postgres ? 'postgres' : 'sqlite';
  console.log(`\nIngestion (${dialect}): ${DOCUMENTS} Markdown documents, ${(bytes / 1024).toFixed(0)} KiB, ${chunks} passages${failed ? `, ${failed} NOT READY` : ''}`);
  console.log('| documents/s | passages/s | KiB/s | total s |');
  console.log('| ---: | ---: | ---: | ---: |');
  console.log(`| ${(DOCUMENTS / (ingestMs / 1000)).toFixed(1)} | ${(chunks / (ingestMs / 1000)).toFixed(0)} | ${(bytes / 1024 / (ingestMs / 1000)).toFixed(0)} | ${(ingestMs / 1000).toFixed(2)} |`);
  console.log(`\nQuestion latency through the gateway (${dialect}, ${chunks} passages, ${QUESTIONS} questions each, instant model)`);
  console.log('| model | p50 ms | p90 ms | p99 ms |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [model, values] of Object.entries(latencies)) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`| ${model} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 90).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} |`);
  }
  await app.close();
  await store.close();
  await dropSchema();
}

await main();
