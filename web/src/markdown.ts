// Markdown → safe HTML. Model output is untrusted: everything passes DOMPurify last, so scripts,
// event handlers and javascript: links end up inert whatever the model (or a pasted prompt) wrote.
import DOMPurify from 'dompurify';
import type KatexModule from 'katex';
import { Marked, type Tokens } from 'marked';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import r from 'highlight.js/lib/languages/r';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';

// A few languages students and researchers use most; others render as plain code.
for (const [name, language] of Object.entries({ bash, cpp, css, java, javascript, json, python, r, sql, typescript, xml })) {
  hljs.registerLanguage(name, language);
}
hljs.registerAliases(['sh', 'shell', 'zsh'], { languageName: 'bash' });
hljs.registerAliases(['js', 'jsx', 'mjs'], { languageName: 'javascript' });
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['c', 'h', 'c++'], { languageName: 'cpp' });

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }: Tokens.Code): string {
      const language = (lang ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      const known = language !== '' && hljs.getLanguage(language) !== undefined;
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : '';
      return `<div class="code-block">${label}<pre><code class="hljs${known ? ` language-${escapeHtml(language)}` : ''}">${body}</code></pre></div>`;
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const PURIFY_CONFIG = {
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
  FORBID_ATTR: ['style'],
  ALLOW_DATA_ATTR: false,
};

// --- maths -------------------------------------------------------------------------------------

type Katex = typeof KatexModule;
let katex: Katex | undefined;
let katexLoading: Promise<void> | undefined;

/** $$…$$, \[…\], \(…\) and $…$ (no space inside the dollars, not a price like $5). */
const MATH = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?![\s$\d])((?:\\\$|[^$\n])+?)(?<![\s\\])\$(?![\w$])/g;
const CODE = /(```[\s\S]*?(?:```|$)|`[^`\n]*`)/g;

export function hasMath(text: string): boolean {
  return text.split(CODE).some((part, i) => i % 2 === 0 && new RegExp(MATH.source).test(part));
}

/**
 * Loads KaTeX the first time a message contains maths. It writes MathML, which browsers lay
 * out natively: no inline styles to let through the sanitiser, no CSS or fonts to download.
 */
export function loadKatex(): Promise<void> {
  katexLoading ??= import('katex').then((module) => {
    katex = module.default;
  });
  return katexLoading;
}

export function isKatexLoaded(): boolean {
  return katex !== undefined;
}

/**
 * Replaces maths outside code with placeholders marked cannot mangle (underscores and
 * asterisks in TeX would otherwise become emphasis), then puts the rendered maths back.
 */
function renderWithMath(text: string): string {
  const rendered: string[] = [];
  const protectedText = text.split(CODE).map((part, i) => {
    if (i % 2 === 1) return part;
    return part.replace(MATH, (whole, display1: string, display2: string, inline1: string, inline2: string) => {
      const display = display1 ?? display2;
      const tex = display ?? inline1 ?? inline2 ?? '';
      const html = katex
        ? katex.renderToString(tex, { displayMode: display !== undefined, throwOnError: false, trust: false, strict: 'ignore', output: 'mathml' })
        : `<code class="math-pending">${escapeHtml(whole)}</code>`;
      rendered.push(display !== undefined ? `<div class="math-display">${html}</div>` : html);
      return `FLEXIMATH${rendered.length - 1}X`;
    });
  }).join('');
  const html = marked.parse(protectedText, { async: false });
  return html.replace(/FLEXIMATH(\d+)X/g, (_, n: string) => rendered[Number(n)] ?? '');
}

/** Markdown (with maths when present) as sanitised HTML. */
export function renderMarkdown(text: string): string {
  if (hasMath(text)) {
    if (!katex) void loadKatex();
    return DOMPurify.sanitize(renderWithMath(text), PURIFY_CONFIG) as string;
  }
  return DOMPurify.sanitize(marked.parse(text, { async: false }), PURIFY_CONFIG) as string;
}
