/**
 * The labelled retrieval set of bench/rag and its evaluation, shared by `npm run bench:rag` and the
 * quality test (test/integration/rag-quality.test.ts). Two courses (German, English), each with a
 * PDF generated from Markdown source (running header, page numbers, table of contents, passages
 * across page breaks), a Markdown file, an HTML page with boilerplate and a plain-text file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractMarkdown } from '../../src/rag/extract-markdown.js';
import { chunkDocument } from '../../src/rag/chunk.js';
import { extractDocument } from '../../src/rag/extract.js';
import { foldWord } from '../../src/rag/fold.js';
import { RagIndexService, type Embedder, type RagIndexOptions } from '../../src/services/rag/rag-index.service.js';
import type { Store } from '../../src/store/store.js';
import { buildCoursePdf, type SourceBlock } from '../../test/helpers/rag-documents.js';

const DIR = new URL('./', import.meta.url).pathname;
export const LIMITS = { maxBytes: 50 * 1024 * 1024, maxPages: 2000 };

export type QuestionKind = 'direct' | 'paraphrase' | 'distractor' | 'code' | 'compound' | 'cross-language' | 'cross-page' | 'unanswerable';

export interface Question {
  id: string;
  course: 'de' | 'en';
  kind: QuestionKind;
  question: string;
  /** What a chat model would make of a question in the other language (used by the multi-query configuration). */
  translation?: string;
  gold?: { document: string; snippet: string };
}

export interface CourseFile { name: string; bytes: Uint8Array; pageTexts?: string[] }

export const QUESTIONS: readonly Question[] = JSON.parse(readFileSync(join(DIR, 'questions.json'), 'utf8')) as Question[];

/** Lines per PDF page: chosen so that several paragraphs run across a page break. */
const LINES_PER_PAGE = 30;

async function pdfFromMarkdown(path: string, header: string, pageFormat: string, tocTitle: string): Promise<{ bytes: Uint8Array; pageTexts: string[] }> {
  const doc = extractMarkdown(readFileSync(path, 'utf8'));
  const blocks: SourceBlock[] = doc.blocks.map((b) => ({ kind: b.kind === 'heading' ? 'heading' : b.kind === 'list-item' ? 'list-item' : 'paragraph', text: b.text, ...(b.level ? { level: b.level } : {}) }));
  return buildCoursePdf(blocks, { runningHeader: header, pageNumberFormat: pageFormat, tocTitle, linesPerPage: LINES_PER_PAGE });
}

/** The files of both courses, built fresh (the PDFs from their Markdown sources). */
export async function courseFiles(): Promise<Record<'de' | 'en', CourseFile[]>> {
  const read = (course: string, name: string): CourseFile => ({ name, bytes: readFileSync(join(DIR, course, name)) });
  const skript = await pdfFromMarkdown(join(DIR, 'de/skript.md'), 'Einführung in die Informatik · Skript WS 2025/26', 'Seite {n} von {total}', 'Inhaltsverzeichnis');
  const notes = await pdfFromMarkdown(join(DIR, 'en/lecture-notes.md'), 'Introduction to Data Science - Lecture Notes', 'Page {n}', 'Contents');
  return {
    de: [{ name: 'skript.pdf', ...skript }, read('de', 'pruefungsordnung.md'), read('de', 'faq.html'), read('de', 'uebungsbetrieb.txt')],
    en: [{ name: 'lecture-notes.pdf', ...notes }, read('en', 'syllabus.md'), read('en', 'lab-guide.html'), read('en', 'faq.txt')],
  };
}

export interface Configuration {
  name: string;
  options: RagIndexOptions;
  /** Pass each question's translation as a multi-query rewrite. */
  multiQuery?: boolean;
}

export interface QuestionResult {
  question: Question;
  /** 1-based rank of the first passage holding the gold text, or undefined when not in the top 10. */
  rank?: number;
  /** For a gold passage in the top 5: whether its document and pages contain the gold text. */
  citationCorrect?: boolean;
  refused: boolean;
  /** The service's relevance signal, for threshold sweeps. */
  relevance: number;
  /** Gold pages of a PDF passage (first, last). */
  goldPages?: [number, number];
}

export interface Metrics {
  answerable: number;
  unanswerable: number;
  recallAt1: number;
  recallAt5: number;
  mrr: number;
  citationAccuracy: number;
  /** Share of refusals that were right (unanswerable). */
  refusalPrecision: number;
  /** Share of unanswerable questions refused. */
  refusalRecall: number;
  /** Share of answerable questions refused. */
  answerableRefused: number;
}

const normalize = (text: string) => foldWord(text).replace(/\s+/g, ' ').trim();

/** The pages on which the snippet starts and ends, found in the laid-out text of all pages joined. */
function goldPages(pageTexts: readonly string[], snippet: string): [number, number] | undefined {
  const pages = pageTexts.map(normalize);
  const starts: number[] = [];
  let joined = '';
  for (const page of pages) {
    starts.push(joined.length);
    joined += `${page} `;
  }
  const at = joined.indexOf(normalize(snippet));
  if (at < 0) return undefined;
  const pageAt = (offset: number) => starts.filter((start) => start <= offset).length;
  return [pageAt(at), pageAt(at + normalize(snippet).length - 1)];
}

/** Indexes both courses into `store` (collections `de` and `en`); returns the pages indexed. */
export async function indexCourses(store: Store, files: Record<'de' | 'en', CourseFile[]>, options: RagIndexOptions): Promise<{ service: RagIndexService; pages: number; chunks: number }> {
  const service = new RagIndexService(store, options);
  let pages = 0;
  let chunks = 0;
  for (const course of ['de', 'en'] as const) {
    for (const file of files[course]) {
      const doc = await extractDocument(file.bytes, file.name, LIMITS);
      const pieces = chunkDocument(doc);
      pages += doc.pageCount ?? 1;
      chunks += pieces.length;
      await service.indexDocument(course, file.name, pieces);
    }
  }
  return { service, pages, chunks };
}

export async function evaluate(service: RagIndexService, files: Record<'de' | 'en', CourseFile[]>, configuration: Configuration,
  questions: readonly Question[] = QUESTIONS): Promise<QuestionResult[]> {
  const results: QuestionResult[] = [];
  for (const question of questions) {
    const queries = configuration.multiQuery && question.translation ? [question.translation] : undefined;
    const { hits, relevant, relevance } = await service.search(question.course, question.question, { topK: 10, ...(queries ? { queries } : {}) });
    const result: QuestionResult = { question, refused: !relevant, relevance };
    if (question.gold) {
      const gold = question.gold;
      const snippet = normalize(gold.snippet);
      const index = hits.findIndex((h) => h.documentId === gold.document && normalize(h.text).includes(snippet));
      if (index >= 0) {
        result.rank = index + 1;
        if (index < 5) {
          const hit = hits[index]!;
          const pageTexts = files[question.course].find((f) => f.name === gold.document)?.pageTexts;
          const pages = pageTexts ? goldPages(pageTexts, gold.snippet) : undefined;
          if (pages) result.goldPages = pages;
          result.citationCorrect = !pageTexts || (pages !== undefined && hit.pageStart !== undefined && hit.pageEnd !== undefined
            && hit.pageStart <= pages[0] && hit.pageEnd >= pages[1]);
        }
      }
    }
    results.push(result);
  }
  return results;
}

export function metricsOf(results: readonly QuestionResult[]): Metrics {
  const answerable = results.filter((r) => r.question.gold);
  const unanswerable = results.filter((r) => !r.question.gold);
  const share = (n: number, d: number) => (d === 0 ? 0 : n / d);
  const found = answerable.filter((r) => r.rank !== undefined && r.rank <= 5);
  const refused = results.filter((r) => r.refused);
  return {
    answerable: answerable.length,
    unanswerable: unanswerable.length,
    recallAt1: share(answerable.filter((r) => r.rank === 1).length, answerable.length),
    recallAt5: share(found.length, answerable.length),
    mrr: share(answerable.reduce((sum, r) => sum + (r.rank ? 1 / r.rank : 0), 0), answerable.length),
    citationAccuracy: share(found.filter((r) => r.citationCorrect).length, found.length),
    refusalPrecision: share(refused.filter((r) => !r.question.gold).length, refused.length),
    refusalRecall: share(unanswerable.filter((r) => r.refused).length, unanswerable.length),
    answerableRefused: share(answerable.filter((r) => r.refused).length, answerable.length),
  };
}

/**
 * A deterministic stand-in for an embedding model: character trigrams of the folded words hashed
 * into 256 dimensions. It is lexical, not semantic — it shows that the hybrid path works and what
 * fusion costs or gains with a weak second list, not what a real embedding model (bge-m3) would add.
 */
export const hashingEmbedder: Embedder = {
  model: 'hashing-trigram-256',
  embed: async (texts) => texts.map((text) => {
    const vector = new Array<number>(256).fill(0);
    for (const word of foldWord(text).match(/[\p{L}\p{N}]+/gu) ?? []) {
      const padded = `#${word}#`;
      for (let i = 0; i + 3 <= padded.length; i++) {
        let hash = 2166136261;
        for (const ch of padded.slice(i, i + 3)) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619);
        vector[(hash >>> 0) % 256]! += 1;
      }
    }
    return vector;
  }),
};

export const CONFIGURATIONS: readonly Configuration[] = [
  { name: 'full text, no analysis', options: { analysis: 'plain' } },
  { name: 'full text + analysis', options: {} },
  { name: 'full text + analysis + multi-query', options: {}, multiQuery: true },
  { name: 'hybrid (hashing embedder, not semantic)', options: { embedder: hashingEmbedder } },
];
