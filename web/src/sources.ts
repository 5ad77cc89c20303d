// Links to a course's documents: the original file, at the cited page for PDFs.
// (The footnotes under a course bot's answer are written by the server: src/services/courses/source-footnotes.ts.)
import type { StreamSource } from './stream';

/** The collection of a `course:<name>` model; undefined for other models. */
export function courseOf(model: string): string | undefined {
  return model.startsWith('course:') ? model.slice('course:'.length) : undefined;
}

/** Where a source's document opens: the original file, at its page for PDFs (`#page=N`). */
export function sourceUrl(collection: string, source: Pick<StreamSource, 'document' | 'page'>): string {
  const file = `/ui/v1/collections/${encodeURIComponent(collection)}/documents/${encodeURIComponent(source.document)}/file`;
  return source.page !== undefined ? `${file}#page=${source.page}` : file;
}
