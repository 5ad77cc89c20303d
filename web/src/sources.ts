// A course bot's sources as footnotes under its answer: each opens the document at the cited page.
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

function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_{}[\]()#+!|<>$])/g, '\\$1');
}

/**
 * Markdown footnotes for an answer's sources, kept with the answer in the chat history: a
 * numbered list matching the `[n]` marks in the text, each linking to the document (and page).
 */
export function sourcesMarkdown(model: string, sources: readonly StreamSource[] | undefined, heading: string): string {
  const collection = courseOf(model);
  if (!collection || !sources || sources.length === 0) return '';
  const lines = sources.map((s) => {
    const label = `${s.document}${s.page !== undefined ? `, p. ${s.page}` : ''}`;
    const section = s.section ? ` — ${escapeMarkdown(s.section)}` : '';
    return `**[${s.index}]** [${escapeMarkdown(label)}](${sourceUrl(collection, s).replace(/\)/g, '%29').replace(/\(/g, '%28').replace(/ /g, '%20')})${section}`;
  });
  return `\n\n---\n**${heading}**\n\n${lines.join('  \n')}\n`;
}
