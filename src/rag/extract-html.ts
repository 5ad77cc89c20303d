import { Parser } from 'htmlparser2';
import { FlexiError } from '../core/errors.js';
import type { ExtractedDocument, TextBlock } from './document.js';
import { BlockBuilder } from './extract-markdown.js';

/** Elements whose content is never text of the page. */
const SKIPPED = new Set(['script', 'style', 'noscript', 'template', 'svg', 'iframe', 'object', 'embed', 'canvas', 'button', 'select', 'textarea', 'form', 'head']);
/** Page furniture: dropped wherever it is. */
const FURNITURE = new Set(['nav', 'aside']);
/** Dropped outside the main content (an article's own header holds its title). */
const PAGE_FRAME = new Set(['header', 'footer']);
const FURNITURE_ROLES = /^(navigation|banner|contentinfo|complementary|search|dialog|alertdialog|menu|menubar)$/i;
const FURNITURE_NAMES = /(^|[\s_-])(cookie|consent|gdpr|banner|navbar|nav|menu|breadcrumbs?|sidebar|footer|header|skip-?link|social|share|advert|ads?|popup|modal|newsletter)($|[\s_-])/i;
const MAIN = new Set(['main', 'article']);
const BLOCKS: Record<string, TextBlock['kind'] | undefined> = {
  p: 'paragraph', div: 'paragraph', section: 'paragraph', blockquote: 'paragraph', dd: 'paragraph', dt: 'paragraph',
  figcaption: 'paragraph', caption: 'paragraph', li: 'list-item', pre: 'code', tr: 'table-row',
  h1: 'heading', h2: 'heading', h3: 'heading', h4: 'heading', h5: 'heading', h6: 'heading',
};

interface Frame { name: string; skip: boolean; main: boolean }

function isFurniture(name: string, attributes: Record<string, string>, insideMain: boolean): boolean {
  if (SKIPPED.has(name) || FURNITURE.has(name)) return true;
  if (PAGE_FRAME.has(name) && !insideMain) return true;
  if (attributes.hidden !== undefined || attributes['aria-hidden'] === 'true') return true;
  if (attributes.role && FURNITURE_ROLES.test(attributes.role)) return true;
  return FURNITURE_NAMES.test(`${attributes.id ?? ''} ${attributes.class ?? ''}`);
}

/** Deeper than any real page; htmlparser2 slows down quadratically with depth, so deeper input is refused first. */
export const MAX_HTML_DEPTH = 1000;
const VOID_OR_IMPLIED = /^(area|base|br|col|embed|hr|img|input|link|meta|source|track|wbr|p|li|dt|dd|tr|td|th|option)$/i;

/** The deepest element nesting, by a linear scan of the tags (elements that close implicitly do not count). */
export function nestingDepth(source: string): number {
  let depth = 0;
  let max = 0;
  for (const match of source.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    if (VOID_OR_IMPLIED.test(match[2]!) || match[3]) continue;
    depth = match[1] ? Math.max(0, depth - 1) : depth + 1;
    if (depth > max) max = depth;
  }
  return max;
}

function hasMainContent(source: string): boolean {
  let found = false;
  const parser = new Parser({
    onopentag(name, attributes) {
      if (MAIN.has(name) || attributes.role === 'main') found = true;
    },
  }, { decodeEntities: true, lowerCaseTags: true });
  parser.end(source);
  return found;
}

/**
 * HTML: only the main content (inside `main`/`article` when the page has one), without navigation,
 * headers, footers, sidebars, cookie banners, forms, scripts and styles. Parsed as data by
 * htmlparser2: nothing is fetched, rendered or executed.
 */
export function extractHtml(source: string, options: { wholeBody?: boolean } = {}): ExtractedDocument {
  if (nestingDepth(source) > MAX_HTML_DEPTH) {
    throw new FlexiError('invalid_request', `The HTML nests elements more than ${MAX_HTML_DEPTH} levels deep; no real page does. Save it as PDF or text instead.`, { param: 'file' });
  }
  const onlyMain = !options.wholeBody && hasMainContent(source);
  const out = new BlockBuilder();
  const stack: Frame[] = [];
  let text = '';
  let title = '';
  let inTitle = false;
  let row: string[] | undefined;
  let rowIsHeader = false;
  let tableHeader: string | undefined;
  // Counters rather than scans of the stack: a page of a million nested elements stays linear.
  let skipDepth = 0;
  let mainDepth = 0;
  const skipping = () => skipDepth > 0;
  const inMain = () => !onlyMain || mainDepth > 0;
  const flush = (kind: TextBlock['kind'] = 'paragraph', level?: number) => {
    const value = text.replace(/[ \t\r\n\f]+/g, ' ').trim();
    text = '';
    if (!value) return;
    if (kind === 'heading') out.heading(value, level ?? 1);
    else out.push({ kind, text: value });
  };
  const parser = new Parser({
    onopentag(name, attributes) {
      if (name === 'title') inTitle = true;
      const main = MAIN.has(name) || attributes.role === 'main';
      const skip = isFurniture(name, attributes, mainDepth > 0 || main);
      stack.push({ name, skip, main });
      if (skip) skipDepth++;
      if (main) mainDepth++;
      if (skipping() || !inMain()) return;
      if (name === 'table') tableHeader = undefined;
      if (name === 'tr') {
        flush();
        row = [];
        rowIsHeader = true;
      } else if ((name === 'td' || name === 'th') && row) {
        text = '';
        if (name === 'td') rowIsHeader = false;
      } else if (BLOCKS[name] || name === 'br') {
        if (name === 'br') text += '\n';
        else if (!row) flush();
      }
    },
    ontext(data) {
      if (inTitle) title += data;
      if (!skipping() && inMain()) text += data;
    },
    onclosetag(name) {
      if (name === 'title') inTitle = false;
      const frame = stack.pop();
      if (frame?.skip) skipDepth--;
      if (frame?.main) mainDepth--;
      const wasSkipped = frame?.skip || skipping() || !inMain() && !frame?.main;
      if (wasSkipped) return;
      if ((name === 'td' || name === 'th') && row) {
        row.push(text.replace(/\s+/g, ' ').trim());
        text = '';
      } else if (name === 'tr' && row) {
        const value = row.filter((c) => c.length > 0).join(' | ');
        if (value) {
          // The first row is the header (mammoth writes no <th>); a later row of <th> cells replaces it.
          if (tableHeader === undefined || rowIsHeader) tableHeader = value;
          out.push({ kind: 'table-row', text: value, ...(tableHeader !== undefined ? { tableHeader } : {}) });
        }
        row = undefined;
      } else if (row) {
        text += ' '; // a paragraph inside a table cell stays in the cell
      } else if (BLOCKS[name] === 'heading') {
        flush('heading', Number(name.slice(1)));
      } else if (BLOCKS[name]) {
        flush(BLOCKS[name]);
      }
    },
  }, { decodeEntities: true, lowerCaseTags: true, recognizeSelfClosing: true });
  parser.end(source);
  flush();
  const documentTitle = title.replace(/\s+/g, ' ').trim() || out.firstHeading;
  return { format: 'html', ...(documentTitle ? { title: documentTitle } : {}), blocks: out.blocks };
}
