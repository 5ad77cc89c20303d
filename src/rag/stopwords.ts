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
