import { unzipSync, zipSync, type Unzipped } from 'fflate';
import mammoth from 'mammoth';
import { FlexiError } from '../core/errors.js';
import type { ExtractLimits, ExtractedDocument } from './document.js';
import { extractHtml } from './extract-html.js';

/** Most bytes a DOCX may unpack to, whatever its size on disk. */
export const MAX_UNZIPPED_BYTES = 256 * 1024 * 1024;
/** Highest compression ratio of any entry (text XML compresses about 10:1; bombs reach 1000:1). */
export const MAX_COMPRESSION_RATIO = 200;
const MAX_ENTRIES = 10_000;

/**
 * Reads the central directory first (fflate, nothing inflated) and refuses archives whose declared
 * sizes or ratios are those of a zip bomb; then inflates with the declared sizes as hard bounds and
 * hands mammoth a re-packed copy of exactly those bytes, so a lying header cannot make it inflate more.
 */
export function unzipBounded(bytes: Uint8Array, fileName: string): Unzipped {
  let total = 0;
  let entries = 0;
  let bomb: string | undefined;
  try {
    unzipSync(bytes, {
      filter: (file) => {
        entries++;
        total += file.originalSize;
        const ratio = file.originalSize / Math.max(1, file.size);
        if (ratio > MAX_COMPRESSION_RATIO && file.originalSize > 1024 * 1024) bomb ??= `${file.name} expands ${Math.round(ratio)}:1`;
        return false;
      },
    });
  } catch (error) {
    throw new FlexiError('invalid_request', `${fileName} is not a readable DOCX (ZIP) file: ${error instanceof Error ? error.message : String(error)}`, { param: 'file' });
  }
  if (entries > MAX_ENTRIES) bomb ??= `it has ${entries} entries`;
  if (total > MAX_UNZIPPED_BYTES) bomb ??= `it unpacks to ${total} bytes (limit ${MAX_UNZIPPED_BYTES})`;
  if (bomb) throw new FlexiError('invalid_request', `${fileName} looks like a zip bomb: ${bomb}. Refused before unpacking.`, { param: 'file' });
  try {
    return unzipSync(bytes);
  } catch (error) {
    throw new FlexiError('invalid_request', `${fileName} is not a readable DOCX (ZIP) file: ${error instanceof Error ? error.message : String(error)}`, { param: 'file' });
  }
}

/** DOCX: zip-bomb check, then mammoth to HTML, then the HTML path (headings, lists, tables). */
export async function extractDocx(bytes: Uint8Array, fileName: string, _limits: ExtractLimits): Promise<ExtractedDocument> {
  const files = unzipBounded(bytes, fileName);
  if (!files['word/document.xml']) {
    throw new FlexiError('invalid_request', `${fileName} is a ZIP archive but not a Word document (no word/document.xml); upload PDF, DOCX, HTML, Markdown or text.`, { param: 'file' });
  }
  const repacked = zipSync(files, { level: 0 });
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: Buffer.from(repacked) })).value;
  } catch (error) {
    throw new FlexiError('invalid_request', `${fileName} is not a readable Word document: ${error instanceof Error ? error.message : String(error)}`, { param: 'file' });
  }
  return { ...extractHtml(html, { wholeBody: true }), format: 'docx' };
}
