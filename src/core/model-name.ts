/**
 * Model names follow Ollama: `name:tag`, optional namespace `ns/name:tag`; a name without a
 * tag means `:latest`. Everywhere inside Flexi a model name is in this canonical form.
 */
export function toCanonicalModelName(name: string): string {
  const trimmed = name.trim();
  const lastSlash = trimmed.lastIndexOf('/');
  const tail = trimmed.slice(lastSlash + 1);
  return tail.includes(':') ? trimmed : `${trimmed}:latest`;
}

/** The short form people type: `llama3` for `llama3:latest`, unchanged otherwise. */
export function toDisplayModelName(name: string): string {
  return name.endsWith(':latest') ? name.slice(0, -':latest'.length) : name;
}

export function isSameModel(a: string, b: string): boolean {
  return toCanonicalModelName(a) === toCanonicalModelName(b);
}
