/**
 * The names Flexi gives model files it writes (pulls). A file name from a request or a URL
 * becomes a path, so only a conservative set passes: no separators, no `..`, no NUL or other
 * control characters, no leading dot, bounded length, and the `.gguf` extension.
 */

/** Letters, digits, `.`, `_`, `+`, `-`; starts with a letter or digit; ends in `.gguf`; at most 255 characters. */
export const GGUF_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,245}\.gguf$/i;

/** What is wrong with `name` as a model file name, or undefined when it is fine. */
export function ggufFileNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 255) return `is ${name.length} characters long (at most 255)`;
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character (such as NUL)';
  if (/[/\\]/.test(name)) return 'contains a path separator';
  if (!/\.gguf$/i.test(name)) return 'must end in .gguf';
  if (!GGUF_FILE_NAME.test(name)) return 'may contain only letters, digits, ".", "_", "+" and "-", and must start with a letter or digit';
  return undefined;
}
