import { strToU8, zipSync } from 'fflate';
import { PDFDocument, PDFHexString, PDFName, PDFNumber, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';

/**
 * Real course documents for tests and bench/rag: PDFs laid out with pdf-lib (running header, page
 * numbers, a table of contents, paragraphs that flow across page breaks) and DOCX files zipped with
 * fflate around a real word/document.xml.
 */

export interface SourceBlock { kind: 'heading' | 'paragraph' | 'list-item'; text: string; level?: number }

export interface CoursePdfOptions {
  /** Printed at the top of every page. */
  runningHeader?: string;
  /** `Seite {n} von {total}` or `Page {n}` at the bottom of every page. */
  pageNumberFormat?: string;
  /** A table of contents with dotted leaders on its own first page, headed by this title. */
  tocTitle?: string;
  /** Lines of body text per page (smaller: more page breaks). */
  linesPerPage?: number;
  /** Draw no text at all: what a scan without OCR looks like. */
  noTextLayer?: boolean;
  /** Add an /Encrypt dictionary whose user password is not empty. */
  encrypted?: boolean;
}

export interface BuiltPdf {
  bytes: Uint8Array;
  /** The body text of each page as laid out (1-based page = index + 1), for labelling gold pages. */
  pageTexts: string[];
  pageCount: number;
}

const PAGE_WIDTH = 595;
const PAGE_HEIGHT = 842;
const MARGIN = 70;
const BODY_SIZE = 11;
const LINE_HEIGHT = 15;

function wrap(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && font.widthOfTextAtSize(candidate, size) > width) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line) lines.push(line);
  return lines;
}

interface Line { text: string; size: number; bold: boolean; gapBefore: number }

function layoutLines(blocks: readonly SourceBlock[], regular: PDFFont, bold: PDFFont): Line[] {
  const width = PAGE_WIDTH - 2 * MARGIN;
  const lines: Line[] = [];
  for (const block of blocks) {
    if (block.kind === 'heading') {
      const size = block.level === 1 ? 18 : block.level === 2 ? 14 : 12;
      wrap(block.text, bold, size, width).forEach((text, i) => lines.push({ text, size, bold: true, gapBefore: i === 0 ? 14 : 0 }));
    } else {
      const text = block.kind === 'list-item' ? `• ${block.text}` : block.text;
      wrap(text, regular, BODY_SIZE, width).forEach((t, i) => lines.push({ text: t, size: BODY_SIZE, bold: false, gapBefore: i === 0 ? 8 : 0 }));
    }
  }
  return lines;
}

function paginate(lines: readonly Line[], linesPerPage: number): Line[][] {
  const pages: Line[][] = [[]];
  let used = 0;
  for (const line of lines) {
    const cost = 1 + (line.gapBefore > 0 ? 1 : 0);
    if (used + cost > linesPerPage && pages[pages.length - 1]!.length > 0) {
      pages.push([]);
      used = 0;
    }
    pages[pages.length - 1]!.push(line);
    used += cost;
  }
  return pages;
}

export async function buildCoursePdf(blocks: readonly SourceBlock[], options: CoursePdfOptions = {}): Promise<BuiltPdf> {
  const pdf = await PDFDocument.create();
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const bodyPages = paginate(layoutLines(blocks, regular, bold), options.linesPerPage ?? 44);
  const tocPages = options.tocTitle ? 1 : 0;
  const total = bodyPages.length + tocPages;
  const pageTexts: string[] = [];
  const footer = (page: PDFPage, n: number) => {
    if (options.runningHeader) page.drawText(options.runningHeader, { x: MARGIN, y: PAGE_HEIGHT - 40, size: 9, font: regular });
    if (options.pageNumberFormat) {
      const text = options.pageNumberFormat.replace('{n}', String(n)).replace('{total}', String(total));
      page.drawText(text, { x: PAGE_WIDTH / 2 - 20, y: 35, size: 9, font: regular });
    }
  };
  if (options.tocTitle) {
    const page = pdf.addPage([PAGE_WIDTH, PAGE_HEIGHT]);
    footer(page, 1);
    page.drawText(options.tocTitle, { x: MARGIN, y: PAGE_HEIGHT - 90, size: 18, font: bold });
    let y = PAGE_HEIGHT - 125;
    bodyPages.forEach((lines, index) => {
      for (const line of lines.filter((l) => l.bold)) {
        const number = String(index + 1 + tocPages);
        let entry = `${line.text} `;
        while (regular.widthOfTextAtSize(`${entry}. ${number}`, BODY_SIZE) < PAGE_WIDTH - 2 * MARGIN) entry += '. ';
        page.drawText(`${entry}${number}`, { x: MARGIN, y, size: BODY_SIZE, font: regular });
        y -= LINE_HEIGHT;
      }
    });
    pageTexts.push('');
  }
  bodyPages.forEach((lines, index) => {
    const page = pdf.addPage([PAGE_WIDTH, PAGE_HEIGHT]);
    footer(page, index + 1 + tocPages);
    let y = PAGE_HEIGHT - 90;
    for (const line of lines) {
      y -= line.gapBefore;
      if (options.noTextLayer) page.drawRectangle({ x: MARGIN, y, width: regular.widthOfTextAtSize(line.text, line.size), height: line.size * 0.7, color: rgb(0.2, 0.2, 0.2) });
      else page.drawText(line.text, { x: MARGIN, y, size: line.size, font: line.bold ? bold : regular });
      y -= line.size === BODY_SIZE ? LINE_HEIGHT : line.size * 1.4;
    }
    pageTexts.push(lines.map((l) => l.text.replace(/^• /, '')).join(' '));
  });
  if (options.encrypted) {
    const filler = PDFHexString.of('6e6f7420612072656164206b6579206e6f7420612072656164206b6579212121');
    pdf.context.trailerInfo.Encrypt = pdf.context.obj({
      Filter: PDFName.of('Standard'), V: PDFNumber.of(1), R: PDFNumber.of(2), O: filler, U: filler, P: PDFNumber.of(-44),
    });
    pdf.context.trailerInfo.ID = pdf.context.obj([PDFHexString.of('00112233445566778899aabbccddeeff'), PDFHexString.of('00112233445566778899aabbccddeeff')]);
  }
  const bytes = await pdf.save({ useObjectStreams: false });
  return { bytes, pageTexts, pageCount: total };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Word document: headings as Heading1–3 styles, paragraphs, and optionally a table. */
export function buildDocx(blocks: readonly SourceBlock[], table?: string[][]): Uint8Array {
  const paragraphs = blocks.map((b) => {
    const style = b.kind === 'heading' ? `<w:pPr><w:pStyle w:val="Heading${b.level ?? 1}"/></w:pPr>` : '';
    return `<w:p>${style}<w:r><w:t xml:space="preserve">${escapeXml(b.text)}</w:t></w:r></w:p>`;
  }).join('');
  const tableXml = table
    ? `<w:tbl>${table.map((row) => `<w:tr>${row.map((cell) => `<w:tc><w:p><w:r><w:t>${escapeXml(cell)}</w:t></w:r></w:p></w:tc>`).join('')}</w:tr>`).join('')}</w:tbl>`
    : '';
  const styles = [1, 2, 3].map((n) => `<w:style w:type="paragraph" w:styleId="Heading${n}"><w:name w:val="heading ${n}"/></w:style>`).join('');
  return zipSync({
    '[Content_Types].xml': strToU8('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>'),
    '_rels/.rels': strToU8('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'),
    'word/_rels/document.xml.rels': strToU8('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'),
    'word/styles.xml': strToU8(`<?xml version="1.0" encoding="UTF-8"?><w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">${styles}</w:styles>`),
    'word/document.xml': strToU8(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${paragraphs}${tableXml}</w:body></w:document>`),
  });
}

/** A ZIP whose one entry inflates from a few KiB to `bytes` of zeros: a zip bomb. */
export function buildZipBomb(bytes = 16 * 1024 * 1024): Uint8Array {
  return zipSync({ 'word/document.xml': [new Uint8Array(bytes), { level: 9 }] });
}
