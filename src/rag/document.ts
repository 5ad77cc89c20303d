/**
 * What extraction yields, shared by `extract.ts` and the extractor of each format. The contract names of
 * issue 15 (`ExtractedDocument`, `TextBlock`, …) live here rather than in `extract.ts`, so the extractors
 * need not import the module that imports them (no import loops, no re-exports).
 */

export type DocumentFormat = 'pdf' | 'markdown' | 'html' | 'text' | 'docx';

/** Limits one document must stay within; exceeding one is a clear `invalid_request`. */
export interface ExtractLimits { maxBytes: number; maxPages: number }

/** A document as structure: blocks in reading order with their pages and headings. */
export interface ExtractedDocument { format: DocumentFormat; pageCount?: number; title?: string; blocks: TextBlock[] }

export interface TextBlock {
  kind: 'heading' | 'paragraph' | 'list-item' | 'table-row' | 'code';
  text: string;
  /** Heading level, 1 = top. */
  level?: number;
  /** 1-based page where the block starts (paged formats only). */
  page?: number;
  /** Last page of a block that runs across a page break. */
  pageEnd?: number;
  /** The headings above this block, outermost first. */
  headingPath?: string[];
  /** For table rows: the table's header row, repeated with every chunk that holds a row of it. */
  tableHeader?: string;
}

export type ProgressCallback = (done: number, total: number) => void;

