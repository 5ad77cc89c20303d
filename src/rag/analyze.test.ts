import { describe, expect, it } from 'vitest';
import { analyzeQuery, analyzeText, detectLanguage, vocabularyOf } from './analyze.js';
import { splitCompound } from './compound.js';
import { foldWord, stemWord } from './fold.js';
import { reciprocalRankFusion } from './fusion.js';
import { coverage } from './relevance.js';

const none = () => false;

describe('language analysis', () => {
  it('splits German compounds into known parts, with linking morphemes', () => {
    expect(splitCompound('prufungsanmeldung', none)).toEqual(['prufung', 'anmeldung']);
    // Parts are compared as stems: "rechn" + linker "er" and "rechner" index the same term.
    expect(splitCompound('rechnerbetreuung', none)?.map((p) => stemWord(p, 'de'))).toEqual([stemWord('rechner', 'de'), stemWord('betreuung', 'de')]);
    // Words outside the built-in list split when the document (or collection) uses them.
    const vocabulary = vocabularyOf('Lernen im Portal');
    expect(splitCompound('lernportal', (s) => vocabulary.has(s))).toEqual(['lern', 'portal']);
    expect(splitCompound('lernportal', none)).toBeUndefined();
    expect(splitCompound('information', none)).toBeUndefined();
  });

  it('indexes a compound with its parts, so "Prüfungsanmeldung" is found by "Anmeldung" and by "Prüfung"', () => {
    const terms = new Set(analyzeText('Die Prüfungsanmeldung erfolgt online.', { language: 'de', known: none }));
    for (const query of ['Anmeldung', 'Prüfung', 'Prüfungen', 'Pruefungsanmeldung']) {
      const [word] = analyzeQuery(query, none);
      expect(coverage([word!], terms, () => 1), query).toBe(1);
    }
  });

  it('keeps codes, identifiers, numbers and paragraphs whole', () => {
    const terms = analyzeText('Nach ISO 8601, Fehler E_ACCESSDENIED, § 12 Abs. 3, Version 3.14 und node.js.', { language: 'de' });
    expect(terms).toEqual(expect.arrayContaining(['iso_8601', 'e_accessdenied', 'para_12', '3_14', 'node_js']));
    const query = analyzeQuery('ISO-8601 E_ACCESSDENIED §12', none).flatMap((w) => w.terms);
    expect(query).toEqual(expect.arrayContaining(['iso_8601', 'e_accessdenied', 'para_12']));
    expect(analyzeText('e_accessdenied', { language: 'en' })).toContain('e_accessdenied');
  });

  it('folds umlauts and ß the same way in index and query', () => {
    expect(foldWord('Straße')).toBe('strasse');
    expect(foldWord('Prüfung')).toBe('prufung');
    const indexed = new Set(analyzeText('Die Straße zur Universität', { language: 'de' }));
    for (const word of analyzeQuery('strasse universitat', none)) expect(word.terms.some((t) => indexed.has(t))).toBe(true);
  });

  it('stems German and English, drops function words, and guesses the language', () => {
    expect(detectLanguage('Die Klausur findet in der letzten Woche statt und dauert zwei Stunden.')).toBe('de');
    expect(detectLanguage('The exam takes place in the last week and lasts two hours.')).toBe('en');
    expect(analyzeText('the students were registering', { language: 'en' })).toEqual(['student', 'regist']);
    expect(analyzeText('die Klausuren der Studierenden', { language: 'de' })).toEqual(['klausur', 'studier']);
  });

  it('adds glossary translations to query words, so an English question reaches German material', () => {
    const [exam] = analyzeQuery('exam', none);
    expect(exam!.terms).toEqual(expect.arrayContaining(['prufung', 'klausur']));
  });

  it('drops question words unless nothing else is left', () => {
    expect(analyzeQuery('Was bedeutet E_TIMEOUT?', none).map((w) => w.surface)).toEqual(['E_TIMEOUT']);
    expect(analyzeQuery('bedeutet', none).map((w) => w.surface)).toEqual(['bedeutet']);
  });
});

describe('reciprocal rank fusion', () => {
  it('ranks what several lists agree on first, with k = 60', () => {
    const fused = reciprocalRankFusion([['a', 'b', 'c'], ['b', 'c', 'a'], ['b']]);
    expect(fused.map((f) => f.id)).toEqual(['b', 'a', 'c']);
    expect(fused[0]!.score).toBeCloseTo(1 / 62 + 1 / 61 + 1 / 61);
  });
});

describe('relevance coverage', () => {
  it('weighs each word by IDF and counts a compound by the share of its parts found', () => {
    const words = analyzeQuery('Prüfungsanmeldung Mensa', none);
    const idf = (term: string) => (term === 'mensa' ? 3 : 1);
    expect(coverage(words, new Set(['anmeld']), idf)).toBeCloseTo((1 * 0.5) / (1 + 3));
    expect(coverage(words, new Set(['prufungsanmeld', 'mensa']), idf)).toBe(1);
    expect(coverage(words, new Set(), idf)).toBe(0);
  });
});
