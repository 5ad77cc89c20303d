import { describe, expect, it } from 'vitest';
import { sanitizeFileName } from './file-name.js';

describe('sanitizeFileName', () => {
  it('keeps only the last path segment, so no name can point elsewhere', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('C:\\Users\\x\\..\\Skript.pdf')).toBe('Skript.pdf');
    expect(sanitizeFileName('/abs/path/notes.md')).toBe('notes.md');
  });

  it('drops control and bidi characters, leading dots and odd punctuation', () => {
    expect(sanitizeFileName('..hidden.txt')).toBe('hidden.txt');
    expect(sanitizeFileName('evil\u202Etxt.exe')).toBe('eviltxt.exe');
    expect(sanitizeFileName('a\u0000b\nc.pdf')).toBe('abc.pdf');
    expect(sanitizeFileName('what?"<x>.md')).toBe('what___x_.md');
    expect(sanitizeFileName('Prüfung  Übung 1.pdf')).toBe('Prüfung Übung 1.pdf');
  });

  it('shortens long names but keeps the extension', () => {
    const name = sanitizeFileName(`${'a'.repeat(500)}.pdf`);
    expect(name).toHaveLength(200);
    expect(name.endsWith('.pdf')).toBe(true);
  });

  it('refuses names with nothing left, naming the field', () => {
    for (const raw of ['', '..', '../', '...', ' \u200B ']) {
      expect(() => sanitizeFileName(raw)).toThrowError(expect.objectContaining({ code: 'invalid_request', param: 'name' }));
    }
  });
});
