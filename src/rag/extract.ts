import { FlexiError } from '../core/errors.js';
import { extractDocx } from './extract-docx.js';
import { extractHtml } from './extract-html.js';
import { extractMarkdown } from './extract-markdown.js';
import { extractPdf } from './extract-pdf.js';
import { extractPlainText } from './extract-text.js';
import type { DocumentFormat, ExtractLimits, ExtractedDocument, ProgressCallback } from './document.js';

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // PK\3\4

function startsWith(bytes: Uint8Array, magic: readonly number[], at = 0): boolean {
  return magic.every((b, i) => bytes[at + i] === b);
}

/** The format of a file, decided by its bytes; the name's extension only tells Markdown from plain text. */
export function sniffFormat(bytes: Uint8Array, fileName: string): DocumentFormat | 'zip' | 'binary' {
  // A PDF may have a few bytes of junk before its header; readers accept it within the first KiB.
  const head = bytes.subarray(0, 1024);
  for (let i = 0; i + PDF_MAGIC.length <= head.length; i++) if (startsWith(head, PDF_MAGIC, i)) return 'pdf';
  if (startsWith(bytes, ZIP_MAGIC)) return 'zip';
  const sample = bytes.subarray(0, 8192);
  if (sample.includes(0)) return 'binary';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(sample).replace(/^\uFEFF/, '').trimStart();
  if (/^<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])/i.test(text) || (/\.x?html?$/i.test(fileName) && text.startsWith('<'))) return 'html';
  if (/\.(md|markdown)$/i.test(fileName)) return 'markdown';
  if (/\.x?html?$/i.test(fileName)) return 'html';
  if (/^#{1,6}\s+\S/m.test(text) && /^#{1,6}\s+\S/m.test(text.slice(0, 2000))) return 'markdown';
  return 'text';
}

/** Decodes text as UTF-8 (a BOM is dropped); invalid UTF-8 is read as Windows-1252, which never fails. */
export function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/**
 * Sniffs the format from bytes (and the name as a hint), extracts structure. Throws FlexiError
 * 'invalid_request' with a clear message (encrypted PDF, "no text layer; OCR is not supported",
 * zip bomb, unsupported type, too many pages). Never executes scripts.
 */
export async function extractDocument(bytes: Uint8Array, fileName: string, limits: ExtractLimits,
  onProgress?: ProgressCallback): Promise<ExtractedDocument> {
  if (bytes.length > limits.maxBytes) {
    throw new FlexiError('invalid_request', `${fileName} is ${bytes.length} bytes; the limit is ${limits.maxBytes} bytes (rag.max_upload_bytes).`, { param: 'file' });
  }
  if (bytes.length === 0) throw new FlexiError('invalid_request', `${fileName} is empty.`, { param: 'file' });
  const doc = await extractFormat(sniffFormat(bytes, fileName), bytes, fileName, limits, onProgress);
  if (!doc.blocks.some((b) => b.text.trim().length > 0)) {
    throw new FlexiError('invalid_request', `${fileName} contains no text.`, { param: 'file' });
  }
  onProgress?.(doc.pageCount ?? 1, doc.pageCount ?? 1);
  return doc;
}

async function extractFormat(format: ReturnType<typeof sniffFormat>, bytes: Uint8Array, fileName: string, limits: ExtractLimits,
  onProgress?: ProgressCallback): Promise<ExtractedDocument> {
  switch (format) {
    case 'pdf': return extractPdf(bytes, fileName, limits, onProgress);
    case 'zip': return extractDocx(bytes, fileName, limits);
    case 'html': return extractHtml(decodeText(bytes));
    case 'markdown': return extractMarkdown(decodeText(bytes));
    case 'text': return extractPlainText(decodeText(bytes), limits);
    default:
      throw new FlexiError('invalid_request', `${fileName} is neither PDF, DOCX, HTML, Markdown nor text; those are the formats a course can hold.`, { param: 'file' });
  }
}
