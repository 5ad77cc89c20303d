import { FlexiError } from '../core/errors.js';
import type { ExtractLimits, ExtractedDocument } from './document.js';
import { BlockBuilder } from './extract-markdown.js';
import { joinLines } from './lines.js';

/** A numbered heading line such as "2.1 Anmeldung zur Prüfung" (short, no sentence end). */
const NUMBERED_HEADING = /^(\d+(?:\.\d+)*)\.?\s+\p{Lu}[^.!?]{0,80}$/u;

/**
 * Plain text: paragraphs split at blank lines, pages at form feeds (`\f`, as `pdftotext` writes
 * them), numbered short lines as headings.
 */
export function extractPlainText(source: string, limits: ExtractLimits): ExtractedDocument {
  const pages = source.replace(/\r\n?/g, '\n').split('\f');
  if (pages.length > limits.maxPages) {
    throw new FlexiError('invalid_request', `The text has ${pages.length} pages; the limit is ${limits.maxPages} (rag.max_pages).`, { param: 'file' });
  }
  const paged = pages.length > 1;
  const out = new BlockBuilder();
  pages.forEach((pageText, index) => {
    const page = paged ? index + 1 : undefined;
    for (const paragraph of pageText.split(/\n\s*\n/)) {
      const lines = paragraph.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
      if (lines.length === 0) continue;
      const heading = lines.length === 1 ? NUMBERED_HEADING.exec(lines[0]!) : null;
      if (heading) out.heading(lines[0]!, heading[1]!.split('.').length, page);
      else if (lines.every((l) => /^[-*•]\s+/.test(l))) for (const l of lines) out.push({ kind: 'list-item', text: l.replace(/^[-*•]\s+/, ''), page });
      else out.push({ kind: 'paragraph', text: joinLines(lines), page });
    }
  });
  return { format: 'text', ...(paged ? { pageCount: pages.length } : {}), title: out.firstHeading, blocks: out.blocks };
}
