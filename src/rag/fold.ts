import snowball from 'snowball-stemmers';

export type Language = 'de' | 'en';

const stemmers = { de: snowball.newStemmer('german'), en: snowball.newStemmer('english') };

/** Lower case with umlauts and ß folded (ä→a, ö→o, ü→u, ß→ss) and other diacritics removed, so "Prüfung" and "Prufung" meet. */
export function foldWord(word: string): string {
  return word.toLowerCase().replace(/ß/g, 'ss').normalize('NFKD').replace(/\p{M}/gu, '');
}

/** Stems by language, remembered: the compound splitter stems every substring of long words. */
const cache = { de: new Map<string, string>(), en: new Map<string, string>() };
const CACHE_ENTRIES = 200_000;

/** The Snowball stem of an already folded word. */
export function stemWord(folded: string, language: Language): string {
  if (folded.length < 3) return folded;
  const memo = cache[language];
  let stem = memo.get(folded);
  if (stem === undefined) {
    if (memo.size >= CACHE_ENTRIES) memo.clear();
    stem = stemmers[language].stem(folded);
    memo.set(folded, stem);
  }
  return stem;
}
