import { candidatePartStems, splitCompound, type KnownStem } from './compound.js';
import { foldWord, stemWord, type Language } from './fold.js';
import { translations } from './glossary.js';
import { ENGLISH_STOPWORDS, GERMAN_STOPWORDS, QUESTION_WORDS, isStopword } from './stopwords.js';

/**
 * The language analysis shared by index and query, so both databases index the same terms:
 * codes and identifiers stay whole (`ISO 8601` → `iso_8601`, `E_ACCESSDENIED` → `e_accessdenied`,
 * `§ 12` → `para_12`), words are folded (ä→a, ß→ss), stemmed (Snowball) and German compounds split
 * into their known parts. Terms use only letters, digits and `_`, which both full-text engines keep whole.
 */

/** One word of a query: alternative terms for the word itself, and the terms of its compound parts. */
export interface QueryWord {
  surface: string;
  /** Any of these matching counts as the word (its stems in both languages, its code forms). */
  terms: string[];
  /** Compound parts, each with its alternatives; the word counts as found when all parts are. */
  parts: string[][];
}

const RAW_TOKEN = /§+\s*\d+[a-z]?|[\p{L}\p{N}]+(?:[_.\-'’/:][\p{L}\p{N}]+)*/gu;
const ACRONYM = /^\p{Lu}{2,8}$/u;
const NUMBERISH = /^\d+(?:[.:-]\d+)*$/;

interface RawToken { text: string; start: number; end: number }

function rawTokens(text: string): RawToken[] {
  const out: RawToken[] = [];
  for (const match of text.matchAll(RAW_TOKEN)) out.push({ text: match[0], start: match.index, end: match.index + match[0].length });
  return out;
}

/** Guesses German or English from the share of each language's function words (default: German when it has umlauts). */
export function detectLanguage(text: string): Language {
  let de = 0;
  let en = 0;
  for (const token of rawTokens(text.slice(0, 20_000))) {
    const word = token.text.toLowerCase();
    if (GERMAN_STOPWORDS.has(word) && !ENGLISH_STOPWORDS.has(word)) de++;
    else if (ENGLISH_STOPWORDS.has(word) && !GERMAN_STOPWORDS.has(word)) en++;
  }
  if (de !== en) return de > en ? 'de' : 'en';
  return /[äöüßÄÖÜ]/.test(text) ? 'de' : 'en';
}

function isCode(raw: string): boolean {
  return /\d/.test(raw) || raw.includes('_') || /\p{Ll}\p{Lu}/u.test(raw) || (ACRONYM.test(raw) && raw.length <= 6)
    || /\p{L}[.:]\p{L}{2,}/u.test(raw) && !/^(\p{L}{1,2}\.)+\p{L}{0,2}$/u.test(raw);
}

/** Terms of a code: its whole form with separators as `_`, the form split at letter/digit boundaries, and its parts. */
function codeTerms(raw: string): string[] {
  const folded = foldWord(raw);
  const whole = folded.replace(/[^\p{L}\p{N}]+/gu, '_').replace(/^_+|_+$/g, '');
  const bounded = whole.replace(/(\p{L})(?=\p{N})|(\p{N})(?=\p{L})/gu, '$1$2_');
  const parts = folded.split(/[^\p{L}\p{N}]+/u).filter((p) => p.length >= 2 || /^\d$/.test(p));
  const terms = new Set([whole, bounded, ...parts.filter((p) => p !== whole)]);
  terms.delete('');
  return [...terms];
}

function paragraphTerms(raw: string): string[] {
  const number = raw.replace(/[^\p{L}\p{N}]/gu, '').toLowerCase();
  return [`para_${number}`, number];
}

/** The pieces a token splits into before word analysis: whole word plus parts for hyphenated words. */
function wordPieces(raw: string): { whole?: string; parts: string[] } {
  const pieces = raw.split(/[-'’/.:]/).filter((p) => p.length > 0);
  if (pieces.length === 1) return { parts: pieces };
  if (/[''’]/.test(raw)) return { parts: [pieces[0]!] };
  if (raw.includes('-')) return { whole: pieces.join(''), parts: pieces };
  return { parts: pieces };
}

interface WordAnalysis { stems: string[]; parts: string[][] }

function analyzeWord(word: string, languages: readonly Language[], known: KnownStem | undefined, splitGerman: boolean): WordAnalysis | undefined {
  const folded = foldWord(word);
  if (folded.length < 2 || isStopword(folded) || isStopword(word.toLowerCase())) return undefined;
  // "Pruefung" typed without umlauts: also the form with ä/ö/ü restored (then folded), never after q ("Quelle").
  const transliterated = folded.replace(/(?<!q)([aou])e/g, '$1');
  const forms = transliterated !== folded && languages.includes('de') ? [folded, transliterated] : [folded];
  const stems = [...new Set(forms.flatMap((form) => languages.map((language) => stemWord(form, language))))];
  const split = splitGerman && known ? (splitCompound(folded, known) ?? (forms[1] ? splitCompound(forms[1], known) : undefined)) : undefined;
  const parts = split ? split.map((part) => [...new Set(languages.map((language) => stemWord(part, language)))]) : [];
  return { stems, parts };
}

interface AnalyzedToken { surface: string; terms: string[]; parts: string[][] }

function analyzeTokens(text: string, languages: readonly Language[], known: KnownStem | undefined, splitGerman: boolean): AnalyzedToken[] {
  const tokens = rawTokens(text);
  const out: AnalyzedToken[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const raw = token.text;
    if (raw.startsWith('§')) {
      out.push({ surface: raw, terms: paragraphTerms(raw), parts: [] });
      continue;
    }
    const next = tokens[i + 1];
    // "ISO 8601", "DIN 5008", "RFC-2119": an acronym and the number after it are one code.
    if (ACRONYM.test(raw) && next && NUMBERISH.test(next.text) && /^[\s-]$/.test(text.slice(token.end, next.start))) {
      out.push({ surface: `${raw} ${next.text}`, terms: [...new Set([...codeTerms(`${raw}_${next.text}`), foldWord(raw)])], parts: [] });
      i++;
      continue;
    }
    if (isCode(raw)) {
      out.push({ surface: raw, terms: codeTerms(raw), parts: [] });
      continue;
    }
    const { whole, parts } = wordPieces(raw);
    if (whole) {
      const analysis = analyzeWord(whole, languages, known, splitGerman);
      const partAnalyses = parts.map((p) => analyzeWord(p, languages, known, splitGerman)).filter((a) => a !== undefined);
      if (analysis) out.push({ surface: raw, terms: analysis.stems, parts: partAnalyses.map((a) => a.stems) });
      continue;
    }
    for (const part of parts) {
      const analysis = analyzeWord(part, languages, known, splitGerman);
      if (analysis) out.push({ surface: part, terms: analysis.stems, parts: analysis.parts });
    }
  }
  return out;
}

/**
 * The terms to index for a passage, in order, repeated as often as they occur (term frequency).
 * German compounds add their parts' stems after the compound's own.
 */
export function analyzeText(text: string, options: { language?: Language; known?: KnownStem } = {}): string[] {
  const language = options.language ?? detectLanguage(text);
  const terms: string[] = [];
  for (const token of analyzeTokens(text, [language], options.known, language === 'de')) {
    terms.push(...token.terms);
    for (const part of token.parts) terms.push(...part);
  }
  return terms;
}

/**
 * A query's words with their alternatives in both languages (the question's language is a guess on
 * a few words; the passages were stemmed in theirs). `known` decides compound parts; see
 * `compoundCandidates` for what to ask the collection first.
 */
export function analyzeQuery(text: string, known?: KnownStem): QueryWord[] {
  const all = analyzeTokens(text, ['de', 'en'], known, true);
  // Question words go unless nothing else is left ("Was bedeutet das?").
  const content = all.filter((word) => !QUESTION_WORDS.has(foldWord(word.surface)));
  const words = content.length > 0 ? content : all;
  const seen = new Set<string>();
  return words.filter((word) => {
    const key = word.terms.join(' ');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).map((word) => withTranslations(word));
}

/** Adds the glossary's translations to a word and to each of its compound parts. */
function withTranslations(word: QueryWord): QueryWord {
  const folded = foldWord(word.surface);
  if (!/^\p{L}+$/u.test(folded)) return word;
  const extra = translations(folded);
  return {
    ...word,
    terms: [...new Set([...word.terms, ...extra])],
    parts: word.parts.map((alternatives) => [...new Set([...alternatives, ...alternatives.flatMap((stem) => translations(stem))])]),
  };
}

/** Stems that could be parts of the query's compounds: look these up in the collection's vocabulary. */
export function compoundCandidates(text: string): string[] {
  const out = new Set<string>();
  for (const token of rawTokens(text)) {
    for (const piece of token.text.split(/[-'’/.:_]/)) for (const stem of candidatePartStems(foldWord(piece))) out.add(stem);
  }
  return [...out];
}

/** The German stems of a text's words: the vocabulary that lets its own compounds split. */
export function vocabularyOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const token of rawTokens(text)) {
    for (const piece of token.text.split(/[-'’/.:_]/)) {
      const folded = foldWord(piece);
      if (folded.length >= 4 && /^\p{L}+$/u.test(folded) && !isStopword(folded)) out.add(stemWord(folded, 'de'));
    }
  }
  return out;
}

/**
 * The baseline without language analysis, for comparison (bench/rag): lower-cased runs of letters
 * and digits, as SQLite's default unicode61 tokenizer would index them.
 */
export function analyzePlain(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

/** A query for the plain baseline: each token is a word with itself as its only term. */
export function analyzePlainQuery(text: string): QueryWord[] {
  return [...new Set(analyzePlain(text))].map((term) => ({ surface: term, terms: [term], parts: [] }));
}
