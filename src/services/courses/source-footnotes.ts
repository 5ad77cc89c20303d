import type { ReplySource } from '../../core/types.js';

/** The collection of a `course:<name>` model; undefined for other models. */
function collectionOf(model: string): string | undefined {
  return model.startsWith('course:') ? model.slice('course:'.length) : undefined;
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_{}[\]()#+!|<>$])/g, '\\$1');
}

/**
 * A course bot's sources as Markdown footnotes under its answer in a web chat, stored with the
 * answer: a numbered list matching the `[n]` marks in the text, each linking to the document's
 * file for members (`#page=N` opens a PDF at the page). Empty for other models and refusals.
 */
export function sourceFootnotes(model: string, sources: readonly ReplySource[] | undefined): string {
  const collection = collectionOf(model);
  if (!collection || !sources || sources.length === 0) return '';
  const lines = sources.map((source) => {
    const file = `/ui/v1/collections/${encodeURIComponent(collection)}/documents/${encodeURIComponent(source.document)}/file`;
    const url = source.page === undefined ? file : `${file}#page=${source.page}`;
    const label = `${source.document}${source.page === undefined ? '' : `, p. ${source.page}`}`;
    const section = source.section ? ` — ${escapeMarkdown(source.section)}` : '';
    return `**[${source.index}]** [${escapeMarkdown(label)}](${url.replace(/\(/g, '%28').replace(/\)/g, '%29')})${section}`;
  });
  return `\n\n---\n${lines.join('  \n')}\n`;
}
