import { FlexiError } from '../../core/errors.js';

const MAX_NAME_CHARS = 200;

/**
 * A document's name from an uploaded file name: the last path segment (`../../etc/passwd` →
 * `passwd`, `C:\\Users\\x\\a.pdf` → `a.pdf`), Unicode NFC, no control or format characters, no
 * leading dots or spaces, at most 200 characters (the extension kept). Files are stored in the
 * database, so a name never becomes a path; it is still shown, searched and sent back in a
 * Content-Disposition header, where none of these belong.
 */
export function sanitizeFileName(raw: string): string {
  const segment = raw.split(/[/\\]/).pop() ?? '';
  let name = segment.normalize('NFC')
    // Control characters, bidi overrides and other invisible format characters.
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
    .replace(/["<>|*?:]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if ([...name].length > MAX_NAME_CHARS) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= 10 ? name.slice(dot) : '';
    name = [...name.slice(0, name.length - ext.length)].slice(0, MAX_NAME_CHARS - ext.length).join('') + ext;
  }
  if (name === '') {
    throw new FlexiError('invalid_request', `"${raw.slice(0, 80)}" is not a usable file name: give the document a name such as "script.pdf".`, { param: 'name' });
  }
  return name;
}
