/** Joins the lines of one paragraph; a word hyphenated at a line end ("Vor-" + "lesung") is joined back. */
export function joinLines(lines: readonly string[]): string {
  let out = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (!out) out = line;
    else if (/\p{Ll}-$/u.test(out) && /^\p{Ll}/u.test(line) && !/^(und|oder|bzw|and|or)\b/.test(line)) out = out.slice(0, -1) + line;
    else out += ` ${line}`;
  }
  return out;
}
