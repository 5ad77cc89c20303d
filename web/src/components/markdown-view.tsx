import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { hasMath, isKatexLoaded, loadKatex, renderMarkdown } from '../markdown';

export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API needs a secure context; fall back to a selection copy.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
}

/** Sanitised Markdown; code blocks get a copy button, maths renders once KaTeX has loaded. */
export function Markdown({ text }: { text: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const math = hasMath(text);
  const [katexReady, setKatexReady] = useState(isKatexLoaded());
  useEffect(() => {
    if (math && !katexReady) void loadKatex().then(() => setKatexReady(true));
  }, [math, katexReady]);
  const html = useMemo(() => renderMarkdown(text), [text, katexReady]);

  useEffect(() => {
    const root = ref.current;
    if (!root) return;
    for (const block of root.querySelectorAll<HTMLElement>('.code-block')) {
      if (block.querySelector(':scope > .copy-code')) continue;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy-code';
      button.textContent = t('copy');
      button.setAttribute('aria-label', t('copyCode'));
      button.addEventListener('click', () => {
        void copyText(block.querySelector('code')?.textContent ?? '').then(() => {
          button.textContent = t('copied');
          setTimeout(() => (button.textContent = t('copy')), 1500);
        });
      });
      block.prepend(button);
    }
  }, [html]);

  return <div ref={ref} class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
