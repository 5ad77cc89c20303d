import { describe, expect, it } from 'vitest';
import { buildCoursePdf, buildDocx, buildZipBomb, type SourceBlock } from '../../test/helpers/rag-documents.js';
import { chunkDocument } from './chunk.js';
import { extractDocument } from './extract.js';

const LIMITS = { maxBytes: 10_000_000, maxPages: 50 };
const utf8 = (text: string) => new TextEncoder().encode(text);

const paragraph = (n: number, extra = '') => `Absatz ${n}: Die Anmeldung zur Klausur erfolgt über das Prüfungsportal der Fakultät. `.repeat(6) + extra;
const SCRIPT: SourceBlock[] = [
  { kind: 'heading', text: 'Einführung in die Informatik', level: 1 },
  ...Array.from({ length: 8 }, (_, i): SourceBlock => ({ kind: 'paragraph', text: paragraph(i, 'Ende.') })),
  { kind: 'heading', text: 'Sortieren', level: 2 },
  { kind: 'paragraph', text: `Mergesort teilt die Folge. ${'Die Hälften werden rekursiv sortiert und danach zusammengeführt, '.repeat(12)}bis nur noch einzelne Elemente übrig sind.` },
  { kind: 'list-item', text: 'Laufzeit O(n log n)' },
];

async function extractPdfOf(blocks: readonly SourceBlock[], options: Parameters<typeof buildCoursePdf>[1] = {}) {
  return extractDocument((await buildCoursePdf(blocks, options)).bytes, 'skript.pdf', LIMITS);
}

describe('extractDocument', () => {
  it('reads a PDF page by page without running headers, page numbers and the table of contents', async () => {
    const built = await buildCoursePdf(SCRIPT, { runningHeader: 'Informatik I · WS 2025/26', pageNumberFormat: 'Seite {n} von {total}', tocTitle: 'Inhaltsverzeichnis', linesPerPage: 25 });
    const doc = await extractDocument(built.bytes, 'skript.pdf', LIMITS);
    expect(doc).toMatchObject({ format: 'pdf', pageCount: built.pageCount, title: 'Einführung in die Informatik' });
    const all = doc.blocks.map((b) => b.text).join('\n');
    expect(all).not.toMatch(/Informatik I · WS|Seite \d+ von|Inhaltsverzeichnis|\. \. \./);
    expect(doc.blocks.find((b) => b.kind === 'heading' && b.text === 'Sortieren')).toMatchObject({ level: 2, headingPath: ['Einführung in die Informatik', 'Sortieren'] });
    expect(doc.blocks.find((b) => b.kind === 'list-item')?.text).toBe('Laufzeit O(n log n)');
    expect(Math.min(...doc.blocks.map((b) => b.page!))).toBe(2); // page 1 was the table of contents
  });

  it('keeps a paragraph that runs across a page break whole, with both pages', async () => {
    const built = await buildCoursePdf(SCRIPT, { pageNumberFormat: 'Page {n}', linesPerPage: 25 });
    const doc = await extractDocument(built.bytes, 'skript.pdf', LIMITS);
    const crossing = doc.blocks.filter((b) => b.pageEnd !== undefined && b.pageEnd > b.page!);
    expect(crossing.length).toBeGreaterThan(0);
    for (const block of crossing) expect(block.text).toMatch(/^Absatz \d+:.*Ende\.$|^Mergesort.*übrig sind\.$/);
    const chunks = chunkDocument(doc, { targetTokens: 400 });
    const chunk = chunks.find((c) => c.text.includes(crossing[0]!.text));
    expect(chunk).toMatchObject({ pageStart: crossing[0]!.page, pageEnd: crossing[0]!.pageEnd });
  });

  it('refuses an encrypted PDF and one without a text layer, saying why', async () => {
    await expect(extractPdfOf(SCRIPT, { encrypted: true })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining('encrypted') });
    await expect(extractPdfOf(SCRIPT, { noTextLayer: true })).rejects.toMatchObject({ message: expect.stringContaining('no text layer; OCR is not supported') });
  });

  it('refuses too many pages, too many bytes, empty and binary files', async () => {
    const built = await buildCoursePdf(SCRIPT, { linesPerPage: 10 });
    await expect(extractDocument(built.bytes, 'x.pdf', { maxBytes: LIMITS.maxBytes, maxPages: 2 })).rejects.toMatchObject({ message: expect.stringContaining('the limit is 2 (rag.max_pages)') });
    await expect(extractDocument(built.bytes, 'x.pdf', { maxBytes: 100, maxPages: 50 })).rejects.toMatchObject({ message: expect.stringContaining('rag.max_upload_bytes') });
    await expect(extractDocument(new Uint8Array(0), 'x.txt', LIMITS)).rejects.toMatchObject({ message: 'x.txt is empty.' });
    await expect(extractDocument(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]), 'x.txt', LIMITS)).rejects.toMatchObject({ message: expect.stringContaining('neither PDF') });
  });

  it('reads a DOCX with headings and a table whose rows keep their header', async () => {
    const docx = buildDocx([{ kind: 'heading', text: 'Termine', level: 1 }, { kind: 'paragraph', text: 'Alle Termine des Semesters.' }], [['Termin', 'Datum'], ['Klausur', '12.02.2026'], ['Nachklausur', '09.04.2026']]);
    const doc = await extractDocument(docx, 'termine.docx', LIMITS);
    expect(doc.format).toBe('docx');
    expect(doc.blocks.map((b) => [b.kind, b.text])).toEqual([
      ['heading', 'Termine'], ['paragraph', 'Alle Termine des Semesters.'],
      ['table-row', 'Termin | Datum'], ['table-row', 'Klausur | 12.02.2026'], ['table-row', 'Nachklausur | 09.04.2026'],
    ]);
    const chunks = chunkDocument({ ...doc, blocks: [...doc.blocks, ...Array.from({ length: 40 }, (_, i) => ({ ...doc.blocks[3]!, text: `Termin ${i} | ${i}.01.2026` }))] }, { targetTokens: 40, overlapTokens: 0 });
    for (const chunk of chunks.slice(1)) expect(chunk.text.startsWith('Termin | Datum')).toBe(true);
  });

  it('refuses a zip bomb before unpacking it, and a ZIP that is no Word document', async () => {
    await expect(extractDocument(buildZipBomb(), 'bomb.docx', LIMITS)).rejects.toMatchObject({ message: expect.stringContaining('zip bomb') });
    const { zipSync, strToU8 } = await import('fflate');
    await expect(extractDocument(zipSync({ 'a.txt': strToU8('hi') }), 'a.docx', LIMITS)).rejects.toMatchObject({ message: expect.stringContaining('not a Word document') });
  });

  it('takes only the main content of HTML and never runs its scripts', async () => {
    const html = `<!doctype html><html><head><title>FAQ</title><script>globalThis.ran = true</script><style>p { color: red }</style></head>
      <body><header><nav><a href="/">Startseite</a><a>Impressum</a></nav></header>
      <div id="cookie-consent">Wir verwenden Cookies. <button>Akzeptieren</button></div>
      <main><article><header><h1>FAQ zur Prüfung</h1></header><p>Die Anmeldung   erfolgt <b>online</b>.</p>
      <table><tr><th>Termin</th><th>Datum</th></tr><tr><td>Klausur</td><td>12.2.</td></tr></table>
      <ul><li>Ausweis mitbringen</li></ul><img src="x" onerror="globalThis.ran = true"></article>
      <aside class="sidebar">Weitere Links</aside></main><footer>© Universität</footer>
      <script>document.write('x')</script></body></html>`;
    const doc = await extractDocument(utf8(html), 'faq.html', LIMITS);
    expect(doc.title).toBe('FAQ');
    expect(doc.blocks.map((b) => [b.kind, b.text])).toEqual([
      ['heading', 'FAQ zur Prüfung'], ['paragraph', 'Die Anmeldung erfolgt online.'],
      ['table-row', 'Termin | Datum'], ['table-row', 'Klausur | 12.2.'], ['list-item', 'Ausweis mitbringen'],
    ]);
    expect((globalThis as { ran?: boolean }).ran).toBeUndefined();
  });

  it('refuses HTML nested deeper than any real page before parsing it', async () => {
    const deep = `<html><body><main>${'<div>'.repeat(5000)}tief${'</div>'.repeat(5000)}</main></body></html>`;
    await expect(extractDocument(utf8(deep), 'deep.html', LIMITS)).rejects.toMatchObject({ message: expect.stringContaining('more than 1000 levels deep') });
    const manyParagraphs = `<html><body>${'<p>Absatz'.repeat(5000)}</body></html>`;
    expect((await extractDocument(utf8(manyParagraphs), 'flat.html', LIMITS)).blocks).toHaveLength(5000);
  });

  it('reads Markdown sections and plain text with form-feed pages', async () => {
    const md = await extractDocument(utf8('# Kurs\n\nEinleitung.\n\n## Prüfung\n\n- Klausur 90 Minuten\n- Hilfsmittel: keine\n\n| Teil | Punkte |\n|---|---|\n| A | 40 |\n\n```\ncode here\n```\n'), 'kurs.md', LIMITS);
    expect(md.blocks.map((b) => [b.kind, b.text, b.headingPath?.join('/')])).toEqual([
      ['heading', 'Kurs', 'Kurs'], ['paragraph', 'Einleitung.', 'Kurs'], ['heading', 'Prüfung', 'Kurs/Prüfung'],
      ['list-item', 'Klausur 90 Minuten', 'Kurs/Prüfung'], ['list-item', 'Hilfsmittel: keine', 'Kurs/Prüfung'],
      ['table-row', 'Teil | Punkte', 'Kurs/Prüfung'], ['table-row', 'A | 40', 'Kurs/Prüfung'], ['code', 'code here', 'Kurs/Prüfung'],
    ]);
    const text = await extractDocument(utf8('1 Einleitung\n\nDie Vor-\nlesung beginnt.\n\fZweite Seite hier.'), 'notes.txt', LIMITS);
    expect(text).toMatchObject({ format: 'text', pageCount: 2 });
    expect(text.blocks.map((b) => [b.kind, b.text, b.page])).toEqual([['heading', '1 Einleitung', 1], ['paragraph', 'Die Vorlesung beginnt.', 1], ['paragraph', 'Zweite Seite hier.', 2]]);
  });
});
