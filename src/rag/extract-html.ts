import type { ExtractedDocument } from './document.js';
import { extractPlainText } from './extract-text.js';

export function extractHtml(source: string): ExtractedDocument {
  return { ...extractPlainText(source.replace(/<[^>]*>/g, ' '), { maxBytes: Infinity, maxPages: Infinity }), format: 'html' };
}
