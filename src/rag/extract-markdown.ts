import type { ExtractedDocument, TextBlock } from './document.js';

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const LIST_ITEM = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/;
const TABLE_ROW = /^\s*\|(.*)\|\s*$/;
const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/** Collects blocks with the heading path each falls under. */
export class BlockBuilder {
  readonly blocks: TextBlock[] = [];
  private path: { level: number; text: string }[] = [];

  heading(text: string, level: number, page?: number): void {
    this.path = this.path.filter((h) => h.level < level);
    this.path.push({ level, text });
    this.push({ kind: 'heading', text, level, page });
  }

  push(block: TextBlock): void {
    if (!block.text.trim()) return;
    const headingPath = this.path.map((h) => h.text);
    this.blocks.push({ ...block, text: block.text.trim(), ...(headingPath.length > 0 ? { headingPath } : {}) });
  }

  get firstHeading(): string | undefined {
    return this.blocks.find((b) => b.kind === 'heading')?.text;
  }
}

function cells(row: string): string {
  return row.split('|').map((c) => c.trim()).filter((c) => c.length > 0).join(' | ');
}

/** Markdown: sections by heading (ATX `#`), paragraphs, list items, table rows with their header, code fences. */
export function extractMarkdown(source: string): ExtractedDocument {
  const out = new BlockBuilder();
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let paragraph: string[] = [];
  let tableHeader: string | undefined;
  const flush = () => {
    if (paragraph.length > 0) out.push({ kind: 'paragraph', text: paragraph.join(' ') });
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (FENCE.test(line)) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !FENCE.test(lines[i]!); i++) code.push(lines[i]!);
      out.push({ kind: 'code', text: code.join('\n') });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      tableHeader = undefined;
      out.heading(heading[2]!, heading[1]!.length);
      continue;
    }
    const row = TABLE_ROW.exec(line);
    if (row) {
      flush();
      if (TABLE_RULE.test(line)) continue;
      const text = cells(line);
      if (tableHeader === undefined) {
        tableHeader = text;
        out.push({ kind: 'table-row', text, tableHeader: text });
      } else {
        out.push({ kind: 'table-row', text, tableHeader });
      }
      continue;
    }
    tableHeader = undefined;
    const item = LIST_ITEM.exec(line);
    if (item) {
      flush();
      out.push({ kind: 'list-item', text: item[1]! });
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    paragraph.push(line.trim());
  }
  flush();
  return { format: 'markdown', title: out.firstHeading, blocks: out.blocks };
}
