/**
 * Common German nouns and stems of university life. The compound splitter accepts a part when it is
 * one of these or occurs as a word in the same document (or, for queries, in the collection), so
 * "Prüfungsanmeldung" splits into "Prüfung" + "Anmeldung" even where neither stands alone.
 * Lower-case, not folded: the splitter folds and stems them like any word.
 */
export const GERMAN_MORPHEMES: readonly string[] = `
abgabe abschluss adresse akte amt aufzeichnung analyse anfang angabe angebot anleitung anmeldung annahme anrechnung antrag antwort
anwendung anzahl arbeit art aufbau aufgabe aufsicht ausgabe auskunft ausschuss ausweis auswahl auswertung bank bedingung
beginn beispiel beitrag bereich bericht beruf bescheid bescheinigung beschreibung betreuung betrieb bewertung bewerbung
bezeichnung bibliothek bild bildung blatt buch büro code daten datei datum dauer dienst dokument dozent druck ende
entwicklung entscheidung ergebnis erklärung fach fakultät fall fehler feld form forschung frage frist funktion gebühr
gerät gesetz gruppe grund gutachten haus hilfe hochschule institut information jahr kapitel karte klausur konto kosten
kurs labor lager last lehre lehrstuhl leistung leiter liste literatur lösung mathematik medizin meldung methode modell
modul monat nachweis name netz netzwerk note nummer ordnung ort pflicht phase plan platz praktikum programm projekt
protokoll prüfung punkt quelle rat raum rechner recht regel richtlinie rückmeldung satz schein schluss schutz schule
seite semester server sicherheit sitzung speicher sprache stand stelle stoff struktur student studie studium stunde
system tabelle tag teil teilnahme termin test text thema theorie typ übung umfang universität unterlagen unterricht
ursache verfahren verlängerung verwaltung version verzeichnis vorlage vorlesung vortrag wahl wert werk wiederholung
wissen woche zahl zeit zentrum ziel zugang zulassung zusammenfassung zweck
`.trim().split(/\s+/);
