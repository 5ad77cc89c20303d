import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The source paper's measurements (CSV copies in ./paper/, see its README upstream). Read at
 * run time so the CSVs stay the single source; found beside this module (src/ under tsx, dist/
 * after `npm run build`, which copies them) and, from a dist/ built by `tsc` alone, in the
 * checkout's src/.
 */

/** One Appendix A cell: end-to-end seconds per request on server B. 300 s was the client time-out. */
export interface PaperLoadCell {
  prompt: string;
  model: string;
  concurrentQueries: number;
  meanSeconds: number;
  sdSeconds: number;
}

export interface PaperModelRow {
  model: string;
  sizeBillionParams: number;
  contextTokens: number;
  licence: string;
}

export interface PaperQualityRow {
  model: string;
  tokensPerSecond: number;
  arc: number;
  hellaswag: number;
  mmlu: number;
  truthfulqa: number;
  winogrande: number;
  gsm8k: number;
  average: number;
}

/** The paper's client time-out: a 300 ± 0 cell means every request timed out. */
export const PAPER_TIMEOUT_SECONDS = 300;

export function loadPaperAppendixA(): PaperLoadCell[] {
  return readCsv('appendix-a-load.csv').map((row) => ({
    prompt: row.prompt!,
    model: row.model!,
    concurrentQueries: Number(row.concurrent_queries),
    meanSeconds: Number(row.mean_s),
    sdSeconds: Number(row.sd_s),
  }));
}

export function loadPaperTable3(): PaperModelRow[] {
  return readCsv('table3-models.csv').map((row) => ({
    model: row.model!,
    sizeBillionParams: Number(row.size_billion_params),
    contextTokens: Number(row.context_tokens),
    licence: row.licence!,
  }));
}

export function loadPaperTable4(): PaperQualityRow[] {
  return readCsv('table4-quality-throughput.csv').map((row) => ({
    model: row.model!,
    tokensPerSecond: Number(row.tokens_per_s),
    arc: Number(row.arc),
    hellaswag: Number(row.hellaswag),
    mmlu: Number(row.mmlu),
    truthfulqa: Number(row.truthfulqa),
    winogrande: Number(row.winogrande),
    gsm8k: Number(row.gsm8k),
    average: Number(row.average),
  }));
}

/** Rows of a paper CSV as objects keyed by the header line. */
export function readCsv(name: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(readFileSync(paperFile(name), 'utf8'));
  if (!header) return [];
  return rows.filter((row) => row.length > 1 || row[0] !== '').map((row) => Object.fromEntries(header.map((key, i) => [key, row[i] ?? ''])));
}

function paperFile(name: string): string {
  const candidates = [new URL(`./paper/${name}`, import.meta.url), new URL(`../../../src/lab/data/paper/${name}`, import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) return path;
  }
  throw new Error(`paper data file ${name} not found (looked in ${candidates.map((c) => fileURLToPath(c)).join(' and ')})`);
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
