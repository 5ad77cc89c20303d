import { describe, expect, it } from 'vitest';
import { chunkDocument, estimateTokens } from './chunk.js';
import type { ExtractedDocument } from './document.js';

const sentence = (n: number) => `Satz Nummer ${n} beschreibt einen Teil der Vorlesung genau.`;

describe('chunkDocument', () => {
  it('starts a chunk at each heading and keeps the heading path as section', () => {
    const doc: ExtractedDocument = { format: 'markdown', blocks: [
      { kind: 'heading', text: 'Kurs', level: 1, headingPath: ['Kurs'] },
      { kind: 'paragraph', text: 'Einleitung.', headingPath: ['Kurs'] },
      { kind: 'heading', text: 'Prüfung', level: 2, headingPath: ['Kurs', 'Prüfung'] },
      { kind: 'paragraph', text: 'Die Klausur dauert 90 Minuten.', headingPath: ['Kurs', 'Prüfung'] },
    ] };
    expect(chunkDocument(doc)).toEqual([
      { ord: 0, text: 'Kurs\nEinleitung.', section: 'Kurs' },
      { ord: 1, text: 'Prüfung\nDie Klausur dauert 90 Minuten.', section: 'Kurs > Prüfung' },
    ]);
  });

  it('cuts long sections near the target size with overlap, and records the pages of each chunk', () => {
    const blocks = Array.from({ length: 30 }, (_, i) => ({ kind: 'paragraph' as const, text: `${sentence(i * 2)} ${sentence(i * 2 + 1)}`, page: Math.floor(i / 10) + 1 }));
    const chunks = chunkDocument({ format: 'pdf', pageCount: 3, blocks }, { targetTokens: 100, overlapTokens: 15 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(estimateTokens(chunk.text)).toBeLessThanOrEqual(100 + 15);
    for (let i = 1; i < chunks.length; i++) {
      const previousLast = chunks[i - 1]!.text.split('\n').pop()!.split(/(?<=\.)\s+/).pop()!;
      expect(chunks[i]!.text.startsWith(previousLast)).toBe(true);
    }
    expect(chunks[0]).toMatchObject({ pageStart: 1 });
    expect(chunks[chunks.length - 1]).toMatchObject({ pageEnd: 3 });
  });

  it('splits a block longer than a chunk at sentence ends', () => {
    const long = Array.from({ length: 60 }, (_, i) => sentence(i)).join(' ');
    const chunks = chunkDocument({ format: 'text', blocks: [{ kind: 'paragraph', text: long }] }, { targetTokens: 80, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.map((c) => c.text).join(' ')).toBe(long);
  });
});
