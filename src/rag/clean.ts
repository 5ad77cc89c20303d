import type { TextBlock } from './document.js';
import { BlockBuilder } from './extract-markdown.js';
import { joinLines } from './lines.js';

/** One line of a PDF page: its text, baseline (PDF units, larger is higher) and font size. */
export interface PdfLine { text: string; y: number; size: number }

/** Lines at the top or bottom of a page that can be running headers, footers or page numbers. */
const EDGE_LINES = 2;
const PAGE_NUMBER = /^(?:(?:seite|page|s\.|p\.)\s*)?[-–]?\s*\d{1,4}\s*[-–]?(?:\s*(?:von|of|\/)\s*\d{1,4})?$/i;
const TOC_HEADING = /^(?:inhalt|inhaltsverzeichnis|contents|table of contents)$/i;
const TOC_LEADER = /(?:\.\s?){4,}\s*\d{1,4}$|\s\.{2,}\s*\d{1,4}$/;
const TOC_ENTRY = /^(?:\d+(?:\.\d+)*\.?\s+)?\S.{0,100}\s\d{1,4}$/;
const BULLET = /^(?:[-•–*▪]|\d+[.)])\s+/;
const SENTENCE_END = /[.!?:;)"“”»]$/;

function shape(text: string): string {
  return text.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();
}

/**
 * Lines that repeat at the top or bottom of at least half the pages (three or more) with only
 * their numbers changed: running headers and footers. Page numbers go whatever their shape.
 */
export function removeRunningLines(pages: readonly PdfLine[][]): PdfLine[][] {
  const counts = new Map<string, number>();
  for (const lines of pages) {
    const edges = new Set([...lines.slice(0, EDGE_LINES), ...lines.slice(-EDGE_LINES)].map((l) => shape(l.text)));
    for (const key of edges) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const minPages = Math.max(3, Math.ceil(pages.length / 2));
  const running = new Set([...counts].filter(([, n]) => pages.length >= 3 && n >= minPages).map(([key]) => key));
  return pages.map((lines) => lines.filter((line, index) => {
    const atEdge = index < EDGE_LINES || index >= lines.length - EDGE_LINES;
    if (!atEdge) return true;
    return !running.has(shape(line.text)) && !PAGE_NUMBER.test(line.text);
  }));
}

/** Drops a table of contents: its heading, lines with dotted leaders, and entries ending in a page number on its pages. */
export function removeTableOfContents(pages: readonly PdfLine[][]): PdfLine[][] {
  let inToc = false;
  return pages.map((lines) => {
    const out: PdfLine[] = [];
    for (const line of lines) {
      if (TOC_HEADING.test(line.text.trim())) {
        inToc = true;
        continue;
      }
      if (TOC_LEADER.test(line.text)) continue;
      if (inToc && TOC_ENTRY.test(line.text)) continue;
      inToc = false;
      out.push(line);
    }
    return out;
  });
}

/** The most common font size, weighted by characters: the body text. */
function bodySize(pages: readonly PdfLine[][]): number {
  const weight = new Map<number, number>();
  for (const line of pages.flat()) weight.set(line.size, (weight.get(line.size) ?? 0) + line.text.length);
  return [...weight].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 10;
}

interface RawBlock { kind: TextBlock['kind']; lines: string[]; level?: number; page: number; pageEnd?: number }

/**
 * Cleaned PDF pages as blocks: headings by font size, paragraphs by vertical gaps, list items by
 * bullets, hyphenation joined, and a paragraph that runs on over a page break merged with both pages.
 */
export function pdfPagesToBlocks(rawPages: readonly PdfLine[][]): { blocks: TextBlock[]; title?: string } {
  const pages = removeTableOfContents(removeRunningLines(rawPages));
  const body = bodySize(pages);
  const headingSizes = [...new Set(pages.flat().filter((l) => l.size >= body * 1.15).map((l) => l.size))].sort((a, b) => b - a);
  const raw: RawBlock[] = [];
  pages.forEach((lines, index) => {
    const page = index + 1;
    let current: RawBlock | undefined;
    let previous: PdfLine | undefined;
    for (const line of lines) {
      const isHeading = line.size >= body * 1.15 && line.text.length <= 120;
      const gap = previous ? previous.y - line.y : 0;
      const newBlock = !current || isHeading || current.kind === 'heading' || BULLET.test(line.text) || gap > line.size * 1.9;
      if (isHeading && current?.kind === 'heading' && current.level === headingSizes.indexOf(line.size) + 1 && gap <= line.size * 1.6) {
        current.lines.push(line.text); // a heading set on two lines
      } else if (newBlock) {
        current = isHeading
          ? { kind: 'heading', lines: [line.text], level: Math.min(6, headingSizes.indexOf(line.size) + 1), page }
          : { kind: BULLET.test(line.text) ? 'list-item' : 'paragraph', lines: [line.text.replace(BULLET, '')], page };
        raw.push(current);
      } else {
        current!.lines.push(line.text);
      }
      previous = line;
    }
  });
  // A paragraph that ends a page without ending its sentence continues on the next page.
  const merged: RawBlock[] = [];
  for (const block of raw) {
    const last = merged[merged.length - 1];
    const lastText = last ? joinLines(last.lines) : '';
    if (last && last.kind === 'paragraph' && block.kind === 'paragraph' && block.page === (last.pageEnd ?? last.page) + 1
      && !SENTENCE_END.test(lastText) && merged.lastIndexOf(last) === merged.length - 1 && isLastOnItsPage(raw, last)) {
      last.lines.push(...block.lines);
      last.pageEnd = block.page;
      continue;
    }
    merged.push(block);
  }
  const out = new BlockBuilder();
  for (const block of merged) {
    const text = joinLines(block.lines);
    if (block.kind === 'heading') out.heading(text, block.level ?? 1, block.page);
    else out.push({ kind: block.kind, text, page: block.page, ...(block.pageEnd !== undefined ? { pageEnd: block.pageEnd } : {}) });
  }
  return { blocks: out.blocks, ...(out.firstHeading ? { title: out.firstHeading } : {}) };
}

function isLastOnItsPage(blocks: readonly RawBlock[], block: RawBlock): boolean {
  const index = blocks.indexOf(block);
  const next = blocks[index + 1];
  return !next || next.page !== (block.pageEnd ?? block.page);
}
