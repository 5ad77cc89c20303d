import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadTestRecord } from './load-test.types.js';
import { renderHtml } from './render-html.js';
import { renderCsv } from './render-text.js';
import type { LoadTestSummary } from './summarize.js';

export interface ResultFiles {
  records: string;
  summaryJson: string;
  summaryCsv: string;
  report: string;
}

/**
 * Writes a run's files into one folder. Records are appended to requests.jsonl as they arrive,
 * so an interrupted or crashed run still leaves its raw data behind.
 */
export class ResultWriter {
  readonly files: ResultFiles;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.files = {
      records: join(dir, 'requests.jsonl'), summaryJson: join(dir, 'summary.json'),
      summaryCsv: join(dir, 'summary.csv'), report: join(dir, 'report.html'),
    };
    writeFileSync(this.files.records, '');
  }

  /** Synchronous so a record is on disk before the next request is measured, even if the process is killed. */
  appendRecord(record: LoadTestRecord): void {
    appendFileSync(this.files.records, `${JSON.stringify(record)}\n`);
  }

  writeSummary(summary: LoadTestSummary, records: readonly LoadTestRecord[]): void {
    writeFileSync(this.files.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(this.files.summaryCsv, renderCsv(summary));
    writeFileSync(this.files.report, renderHtml(summary, records));
  }
}
