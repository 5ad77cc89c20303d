import { getDocumentProxy } from 'unpdf';
import { FlexiError } from '../core/errors.js';
import type { ExtractLimits, ExtractedDocument, ProgressCallback } from './document.js';
import { pdfPagesToBlocks, type PdfLine } from './clean.js';

interface PdfTextItem { str: string; transform: number[]; hasEOL?: boolean }

/** Lines of a page from pdf.js text items: grouped by baseline, top to bottom, left to right. */
function linesOf(items: readonly PdfTextItem[]): PdfLine[] {
  const rows: { y: number; size: number; parts: { x: number; text: string }[] }[] = [];
  for (const item of items) {
    if (!item.str) continue;
    const [, , c = 0, d = 0, x = 0, y = 0] = item.transform;
    const size = Math.hypot(c, d) || 1;
    const row = rows.find((r) => Math.abs(r.y - y) <= size * 0.4);
    if (row) {
      row.parts.push({ x, text: item.str });
      row.size = Math.max(row.size, size);
    } else {
      rows.push({ y, size, parts: [{ x, text: item.str }] });
    }
  }
  return rows
    .sort((a, b) => b.y - a.y)
    .map((row) => ({
      text: row.parts.sort((a, b) => a.x - b.x).map((p) => p.text).join(' ').replace(/\s+/g, ' ').trim(),
      y: row.y,
      size: Math.round(row.size * 10) / 10,
    }))
    .filter((line) => line.text.length > 0);
}

/**
 * PDF through pdf.js (unpdf): the text layer page by page with positions, then cleaning (running
 * headers and footers, page numbers, the table of contents) and blocks with their pages. pdf.js
 * only reads the text layer (no XFA, nothing rendered); a PDF's JavaScript is never run.
 */
export async function extractPdf(bytes: Uint8Array, fileName: string, limits: ExtractLimits, onProgress?: ProgressCallback): Promise<ExtractedDocument> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // A copy: pdf.js may hand the buffer to its worker and detach it.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { enableXfa: false, stopAtErrors: false });
  } catch (error) {
    if (error instanceof Error && error.name === 'PasswordException') {
      throw new FlexiError('invalid_request', `${fileName} is encrypted (password-protected); save it without a password and upload it again.`, { param: 'file' });
    }
    throw new FlexiError('invalid_request', `${fileName} is not a readable PDF: ${error instanceof Error ? error.message : String(error)}`, { param: 'file' });
  }
  try {
    const pageCount = pdf.numPages;
    if (pageCount > limits.maxPages) {
      throw new FlexiError('invalid_request', `${fileName} has ${pageCount} pages; the limit is ${limits.maxPages} (rag.max_pages).`, { param: 'file' });
    }
    const pages: PdfLine[][] = [];
    for (let number = 1; number <= pageCount; number++) {
      const page = await pdf.getPage(number);
      const content = await page.getTextContent();
      pages.push(linesOf(content.items.filter((item) => 'str' in item) as PdfTextItem[]));
      page.cleanup();
      onProgress?.(number, pageCount);
    }
    if (pages.every((lines) => lines.length === 0)) {
      throw new FlexiError('invalid_request', `${fileName} has no text layer; OCR is not supported. Upload a PDF with selectable text (export it from the original document, or run OCR first).`, { param: 'file' });
    }
    const { blocks, title } = pdfPagesToBlocks(pages);
    return { format: 'pdf', pageCount, ...(title ? { title } : {}), blocks };
  } finally {
    await pdf.loadingTask.destroy();
  }
}
