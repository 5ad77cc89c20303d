import type { ExtractedDocument, TextBlock } from './document.js';

/** A passage to index: text, the pages it spans and the section it belongs to. */
export interface Chunk { ord: number; text: string; pageStart?: number; pageEnd?: number; section?: string }

export interface ChunkOptions {
  /** Size a chunk grows to before a new one starts (estimated tokens). */
  targetTokens?: number;
  /** Text repeated from the end of the previous chunk of the same section (estimated tokens). */
  overlapTokens?: number;
}

export const DEFAULT_CHUNK_TOKENS = 300;
export const DEFAULT_OVERLAP_TOKENS = 40;

/** A token estimate that needs no tokenizer: about 1.3 tokens per word for German and English text. */
export function estimateTokens(text: string): number {
  const words = text.split(/\s+/).filter((w) => w.length > 0).length;
  return Math.ceil(words * 1.3);
}

function sentences(text: string): string[] {
  return text.split(/(?<=[.!?;:])\s+(?=[\p{Lu}\p{N}§(„"])/u).filter((s) => s.length > 0);
}

interface Unit { block: TextBlock; text: string; tokens: number; section?: string }

/** Blocks larger than a chunk are cut at sentence ends (a single sentence longer than that stays whole). */
function unitsOf(doc: ExtractedDocument, targetTokens: number): Unit[] {
  const units: Unit[] = [];
  for (const block of doc.blocks) {
    const path = block.headingPath ?? [];
    const section = path.length > 0 ? path.join(' > ') : undefined;
    const tokens = estimateTokens(block.text);
    if (tokens <= targetTokens || block.kind === 'heading') {
      units.push({ block, text: block.text, tokens, section });
      continue;
    }
    let piece: string[] = [];
    let pieceTokens = 0;
    for (const sentence of sentences(block.text)) {
      const t = estimateTokens(sentence);
      if (pieceTokens > 0 && pieceTokens + t > targetTokens) {
        units.push({ block, text: piece.join(' '), tokens: pieceTokens, section });
        piece = [];
        pieceTokens = 0;
      }
      piece.push(sentence);
      pieceTokens += t;
    }
    if (piece.length > 0) units.push({ block, text: piece.join(' '), tokens: pieceTokens, section });
  }
  return units;
}

function overlapOf(units: readonly Unit[], overlapTokens: number): Unit[] {
  if (overlapTokens <= 0) return [];
  const last = units[units.length - 1];
  if (!last || last.block.kind === 'heading') return [];
  const tail: string[] = [];
  let tokens = 0;
  for (const sentence of sentences(last.text).reverse()) {
    const t = estimateTokens(sentence);
    if (tokens + t > overlapTokens) break;
    tail.unshift(sentence);
    tokens += t;
  }
  return tail.length > 0 ? [{ ...last, text: tail.join(' '), tokens }] : [];
}

function toChunk(units: readonly Unit[], ord: number): Chunk {
  const pages = units.flatMap((u) => [u.block.page, u.block.pageEnd ?? u.block.page]).filter((p): p is number => p !== undefined);
  const section = units.find((u) => u.block.kind !== 'heading')?.section ?? units[0]?.section;
  return {
    ord,
    text: units.map((u) => u.text).join('\n'),
    ...(pages.length > 0 ? { pageStart: Math.min(...pages), pageEnd: Math.max(...pages) } : {}),
    ...(section !== undefined ? { section } : {}),
  };
}

/**
 * Cuts a document into passages at its structure: a heading starts a chunk, a chunk ends before it
 * would pass the target size, a new chunk of the same section repeats the end of the previous one,
 * table rows carry their header, and a block that runs across a page break keeps both pages.
 */
export function chunkDocument(doc: ExtractedDocument, options: ChunkOptions = {}): Chunk[] {
  const targetTokens = Math.max(32, options.targetTokens ?? DEFAULT_CHUNK_TOKENS);
  const overlapTokens = Math.max(0, Math.min(options.overlapTokens ?? DEFAULT_OVERLAP_TOKENS, Math.floor(targetTokens / 2)));
  const chunks: Chunk[] = [];
  let current: Unit[] = [];
  let currentTokens = 0;
  let fresh = 0; // units of `current` that are not overlap from the previous chunk

  const emit = () => {
    if (fresh > 0) chunks.push(toChunk(current, chunks.length));
    current = [];
    currentTokens = 0;
    fresh = 0;
  };

  for (const unit of unitsOf(doc, targetTokens)) {
    const onlyHeadings = current.every((u) => u.block.kind === 'heading');
    if (unit.block.kind === 'heading') {
      if (!onlyHeadings) emit();
    } else if (current.length > 0 && !onlyHeadings && (unit.section !== current[current.length - 1]!.section)) {
      emit();
    } else if (current.length > 0 && !onlyHeadings && currentTokens + unit.tokens > targetTokens) {
      const overlap = overlapOf(current, overlapTokens);
      const header = unit.block.tableHeader;
      emit();
      const headerUnit: Unit[] = header !== undefined && header !== unit.text
        ? [{ block: { ...unit.block, text: header }, text: header, tokens: estimateTokens(header), section: unit.section }]
        : [];
      current = unit.block.kind === 'table-row' ? headerUnit : overlap;
      currentTokens = current.reduce((sum, u) => sum + u.tokens, 0);
    }
    current.push(unit);
    currentTokens += unit.tokens;
    fresh++;
  }
  emit();
  return chunks;
}
