import { readFileSync } from 'node:fs';
import { CliError } from './cli-error.js';

/** Option parsers shared by `flexi loadtest` and `flexi bench`; each names the flag it rejects. */

export function parseList(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new CliError(`${flag} needs at least one value, e.g. ${flag} a,b`);
  return items;
}

export function parseNumber(flag: string, value: string, { integer = false, min = 0, exclusiveMin = true } = {}): number {
  const n = Number(value);
  const ok = Number.isFinite(n) && (integer ? Number.isInteger(n) : true) && (exclusiveMin ? n > min : n >= min);
  if (!ok) throw new CliError(`${flag} must be ${integer ? 'a whole number' : 'a number'} ${exclusiveMin ? '>' : '≥'} ${min}, got "${value}"`);
  return n;
}

export function parseNumberList(flag: string, value: string, options: { integer?: boolean } = {}): number[] {
  return parseList(flag, value).map((v) => parseNumber(flag, v, options));
}

export function parseProtocol(value: string | undefined): 'openai' | 'ollama' | 'auto' {
  const protocol = value ?? 'auto';
  if (protocol !== 'openai' && protocol !== 'ollama' && protocol !== 'auto') throw new CliError(`--protocol must be openai, ollama or auto, got "${protocol}"`);
  return protocol;
}

/**
 * Prompts from a file: a JSON array of strings (or of {prompt}), JSONL with a `prompt` field per
 * line, or plain text with one prompt per line (blank lines and lines starting with # skipped).
 */
export function readPromptsFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`--prompts: cannot read ${path} (${(error as Error).message})`);
  }
  const fromItem = (item: unknown): string => {
    const prompt = typeof item === 'string' ? item : (item as { prompt?: unknown } | null)?.prompt;
    if (typeof prompt !== 'string' || prompt.trim() === '') throw new CliError(`--prompts: ${path} has an entry without a prompt text`);
    return prompt;
  };
  const trimmed = text.trim();
  let prompts: string[];
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new CliError(`--prompts: ${path} looks like JSON but does not parse (${(error as Error).message})`);
    }
    prompts = (parsed as unknown[]).map(fromItem);
  } else if (trimmed.startsWith('{')) {
    prompts = trimmed.split(/\r?\n/).filter((l) => l.trim()).map((line, i) => {
      try {
        return fromItem(JSON.parse(line));
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(`--prompts: line ${i + 1} of ${path} is not JSON`);
      }
    });
  } else {
    prompts = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  }
  if (prompts.length === 0) throw new CliError(`--prompts: ${path} holds no prompts`);
  return prompts;
}
