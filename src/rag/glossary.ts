import { foldWord, stemWord } from './fold.js';

/**
 * A small German–English glossary of university and course vocabulary. A query word found here
 * also searches its translations, so "exam registration" reaches "Prüfungsanmeldung" without a
 * chat model. It covers study organisation, not subject matter: beyond it, questions in the other
 * language need multi-query (the course's chat model translating) or a multilingual embedding model.
 */
const PAIRS: readonly [string, string][] = [
  ['prüfung klausur', 'exam examination test'], ['anmeldung', 'registration enrolment'], ['anmelden', 'register enrol'],
  ['frist anmeldefrist', 'deadline'], ['abgabe', 'submission'], ['abgeben', 'submit'], ['note', 'grade mark'],
  ['bewertung', 'assessment grading'], ['vorlesung', 'lecture'], ['übung übungsgruppe', 'tutorial exercise'],
  ['übungsblatt', 'exercise sheet'], ['aufgabe', 'task assignment'], ['semester', 'semester term'], ['sommer', 'summer'],
  ['winter', 'winter'], ['sommersemester', 'summer term semester'], ['wintersemester', 'winter term semester'],
  ['dauer', 'duration'], ['dauert', 'long last lasts'], ['minuten', 'minutes'], ['stunden', 'hours'], ['woche', 'week'],
  ['tag', 'day'], ['schriftlich', 'written'], ['mündlich', 'oral'], ['plagiat', 'plagiarism'], ['betrug', 'cheating fraud'],
  ['krankheit krank', 'illness ill sick'], ['attest', 'certificate'], ['rücktritt', 'withdrawal'], ['wiederholung', 'resit repeat'],
  ['wiederholen', 'repeat retake'], ['bestanden bestehen', 'pass passed'], ['durchgefallen', 'failed fail'],
  ['hilfsmittel', 'aids materials'], ['taschenrechner', 'calculator'], ['sprechstunde', 'office hours'], ['raum', 'room lab'],
  ['computerraum rechnerraum', 'computer lab'], ['drucken', 'printing print'], ['kosten kostet', 'cost costs price'],
  ['aufzeichnung', 'recording recordings'], ['bibliothek', 'library'], ['geöffnet öffnungszeiten', 'open opening hours'],
  ['ausweis studienausweis', 'card id'], ['gruppe', 'group'], ['projekt', 'project'], ['bericht', 'report'],
  ['verspätet', 'late'], ['verlängerung', 'extension'], ['punkte', 'points'], ['bonus', 'bonus'], ['zulassung', 'admission'],
  ['teilnahme', 'attendance participation'], ['pflicht', 'mandatory compulsory'], ['speicher', 'storage memory'],
  ['daten', 'data'], ['datenschutz', 'privacy data protection'], ['fehler', 'error'], ['fehlercode', 'error code'],
  ['datei', 'file'], ['passwort', 'password'], ['server', 'server'], ['bachelorarbeit', 'thesis'], ['ethik', 'ethics'],
  ['einwilligung', 'consent'], ['antrag', 'application request'], ['prüfungsamt', 'examination office'],
];

type Direction = 'de' | 'en';

function buildIndex(): Map<string, string[]> {
  const index = new Map<string, string[]>();
  const add = (key: string, values: string[]) => index.set(key, [...new Set([...(index.get(key) ?? []), ...values])]);
  for (const [de, en] of PAIRS) {
    const deWords = de.split(' ').map(foldWord);
    const enWords = en.split(' ').map(foldWord);
    const stems = (words: string[], language: Direction) => words.map((w) => stemWord(w, language));
    for (const w of deWords) add(`de:${stemWord(w, 'de')}`, [...stems(enWords, 'en'), ...stems(enWords, 'de')]);
    for (const w of enWords) add(`en:${stemWord(w, 'en')}`, [...stems(deWords, 'de'), ...stems(deWords, 'en')]);
  }
  return index;
}

const INDEX = buildIndex();

/** Stems of the other language's words for a folded query word (empty when the glossary lacks it). */
export function translations(folded: string): string[] {
  return [...(INDEX.get(`de:${stemWord(folded, 'de')}`) ?? []), ...(INDEX.get(`en:${stemWord(folded, 'en')}`) ?? [])];
}
