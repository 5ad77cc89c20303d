/** Function words of German and English: dropped from index and query, and counted to guess a text's language. */
export const GERMAN_STOPWORDS: ReadonlySet<string> = new Set(`
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus bei beim bin
bis bist da damit dann das dass dein deine dem den denn der des dessen dich die dies diese diesem diesen dieser dieses dir
doch dort du durch ein eine einem einen einer eines er es etwa euch euer eure für fur gegen gibt hab habe haben hat hatte
hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im in indem ins ist ja jede jedem jeden jeder jedes
jene jetzt kann kein keine keinem keinen keiner können konnen könnte man manche mehr mein meine mich mir mit muss müssen
mussen nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner selbst sich sie sind so solche soll
sollen sollte sondern sonst über uber um und uns unser unsere unter vom von vor wann war waren warum was weil welche
welchem welchen welcher welches wenn wer werde werden wie wieder will wir wird wo wollen worden wurde wurden zu zum zur
zwar zwischen wieviel wieviele viele gilt bitte gibt's
`.trim().split(/\s+/));

export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set(`
a about above after again against all am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him
himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who whom why will with would
you your yours yourself yourselves may must shall also there's what's can't don't doesn't isn't many much
`.trim().split(/\s+/));

export function isStopword(word: string): boolean {
  return GERMAN_STOPWORDS.has(word) || ENGLISH_STOPWORDS.has(word);
}

/**
 * Words that ask rather than name a topic ("what do I have to do …"): dropped from queries only, so
 * a question is judged by the coverage of its subject (src/rag/relevance.ts), not of its phrasing.
 */
export const QUESTION_WORDS: ReadonlySet<string> = new Set(`
tun mache machen macht gibt geben bekomme bekommen finde finden heisst heißt bedeutet bedeuten funktioniert passiert
verwendet verwenden benutzt nutzen regelt regeln erfullen erfüllen durfen dürfen darf muss musst mussen müssen soll sollte kann konnen können moglich möglich genau bitte
wissen weiss weiß erklare erkläre erklaren erklären beschreibe nenne welche welcher welches wie wieso weshalb wozu
happen happens happened get gets getting find mean means meaning use used using need needed pick choose tell explain
describe please know way ways now thing things really
`.trim().split(/\s+/));
