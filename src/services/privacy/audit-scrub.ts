/** Needles shorter than this are replaced only where a whole value equals them (a two-letter name must not mangle other text). */
const MIN_SUBSTRING_CHARS = 6;

/**
 * Replaces every mention of `needles` in a value by `reference`: strings equal to a needle,
 * and substrings for needles long enough to be unambiguous (ids, e-mail addresses).
 * Objects and arrays are walked; keys are kept.
 */
export function scrubValue(value: unknown, needles: readonly string[], reference: string): unknown {
  if (typeof value === 'string') return scrubString(value, needles, reference);
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, needles, reference));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scrubValue(item, needles, reference)]));
  }
  return value;
}

export function scrubString(text: string, needles: readonly string[], reference: string): string {
  let out = text;
  for (const needle of needles) {
    if (needle === '') continue;
    if (out === needle || out.toLowerCase() === needle.toLowerCase()) return reference;
    if (needle.length >= MIN_SUBSTRING_CHARS) out = replaceAllCaseless(out, needle, reference);
  }
  return out;
}

/** E-mail addresses are compared case-insensitively, as stored (lower-case) and as typed. */
function replaceAllCaseless(text: string, needle: string, replacement: string): string {
  const lowerText = text.toLowerCase();
  const lowerNeedle = needle.toLowerCase();
  // Some characters change length when lower-cased; then positions would not line up.
  if (lowerText.length !== text.length || lowerNeedle.length !== needle.length) return text.split(needle).join(replacement);
  let from = 0;
  let out = '';
  for (;;) {
    const at = lowerText.indexOf(lowerNeedle, from);
    if (at < 0) return out + text.slice(from);
    out += text.slice(from, at) + replacement;
    from = at + needle.length;
  }
}
