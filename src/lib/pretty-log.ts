/**
 * A pino destination for people at a terminal: `12:00:01.234 WARN  message key=value …` instead
 * of one JSON object per line. Machines (files, journald, log shippers) keep pino's JSON
 * (`log.format: json`, the default when stdout is not a TTY).
 */

const LEVELS: Readonly<Record<number, { label: string; color: string }>> = {
  10: { label: 'TRACE', color: '\x1b[90m' },
  20: { label: 'DEBUG', color: '\x1b[36m' },
  30: { label: 'INFO', color: '\x1b[32m' },
  40: { label: 'WARN', color: '\x1b[33m' },
  50: { label: 'ERROR', color: '\x1b[31m' },
  60: { label: 'FATAL', color: '\x1b[41m\x1b[97m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** pino's own fields, shown in the line's fixed part or not at all. */
const OWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

function pad2(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** Formats one pino JSON line; a line that is not JSON passes through unchanged. */
export function formatLogLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const at = new Date(typeof entry.time === 'number' ? entry.time : Date.now());
  const time = `${pad2(at.getHours())}:${pad2(at.getMinutes())}:${pad2(at.getSeconds())}.${pad2(at.getMilliseconds(), 3)}`;
  const level = LEVELS[Number(entry.level)] ?? { label: String(entry.level ?? '?'), color: '' };
  const label = level.label.padEnd(5);
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, v] of Object.entries(entry)) {
    if (OWN.has(key) || v === undefined) continue;
    // A multi-line stack reads better below the line than as one escaped string.
    if (typeof v === 'string' && v.includes('\n') && /stack|error/i.test(key)) {
      stack = v;
      continue;
    }
    fields.push(`${key}=${value(v)}`);
  }
  const message = typeof entry.msg === 'string' ? entry.msg : '';
  const extra = fields.length > 0 ? ` ${color ? DIM : ''}${fields.join(' ')}${color ? RESET : ''}` : '';
  const head = color ? `${DIM}${time}${RESET} ${level.color}${label}${RESET}` : `${time} ${label}`;
  return `${head} ${message}${extra}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`;
}

/** A destination object pino writes whole lines to. */
export function prettyDestination(out: { write(chunk: string): unknown }, color: boolean): { write(line: string): void } {
  return { write: (line) => void out.write(formatLogLine(line, color)) };
}
