import type { IncomingMessage } from 'node:http';
import { FlexiError } from '../core/errors.js';

/**
 * Request bodies → JSON, with the checks that must happen before anything walks the value:
 * UTF-8, and a bound on nesting depth. JSON.parse itself copes with deep input, but everything
 * after it that recurses does not: JSON.stringify overflows the stack at ~10,000 levels when the
 * request is serialised for a node, and zod, translators and loggers recurse too. No real schema,
 * message or tool definition needs more than a few dozen levels.
 */

/** Deepest nesting of objects and arrays a body may have (the body itself is level 1). */
export const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const COMMA = 0x2c; // ,

/**
 * Deepest nesting in raw JSON bytes, stopping as soon as it passes `limit`. One pass with a
 * counter, no recursion, so it cannot overflow whatever it is given. Structural characters are
 * ASCII and never occur inside a UTF-8 multi-byte sequence, so scanning bytes is exact. String
 * contents, the bulk of a large body, are skipped with the native `indexOf`. Invalid JSON gives
 * some number; JSON.parse rejects it afterwards.
 */
export function jsonDepth(bytes: Buffer, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === QUOTE) {
      i = closingQuote(bytes, i);
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return deepest;
}

/** Index of the quote that ends the string opened at `open` (the last index when unterminated). */
function closingQuote(bytes: Buffer, open: number): number {
  let at = bytes.indexOf(QUOTE, open + 1);
  while (at !== -1) {
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = bytes.indexOf(QUOTE, at + 1);
  }
  return bytes.length;
}

/** Whether the body has more than `limit` opening brackets at all; most bodies have a few dozen. */
function hasMoreBrackets(bytes: Buffer, limit: number): boolean {
  let count = 0;
  for (const bracket of [OPEN_OBJECT, OPEN_ARRAY]) {
    for (let at = bytes.indexOf(bracket); at !== -1; at = bytes.indexOf(bracket, at + 1)) {
      if (++count > limit) return true;
    }
  }
  return false;
}

interface Level {
  isArray: boolean;
  /** The member name in an object (once read), or the element index in an array. */
  key: string | number | undefined;
}

/** Levels of a field path named in the error: enough for `tools[0].function.parameters`, short enough to read. */
const PATH_LEVELS = 4;

/**
 * The field path (`tools[0].function.parameters`) under which the first value nested deeper
 * than `limit` sits, cut to its first few levels: where the client should look. Runs only on a
 * body that failed the check, with the same single pass and at most `limit` levels remembered.
 */
export function deepFieldPath(bytes: Buffer, limit: number): string {
  const text = bytes.toString('utf8');
  const levels: Level[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      const end = stringEnd(text, i);
      const top = levels.at(-1);
      // A string that starts a member of an object (after `{` or `,`) is its name.
      if (top && !top.isArray && top.key === undefined) top.key = decodeJsonString(text.slice(i, end + 1));
      i = end;
    } else if (char === OPEN_OBJECT || char === OPEN_ARRAY) {
      if (levels.length === limit) return formatPath(levels.slice(0, PATH_LEVELS));
      levels.push({ isArray: char === OPEN_ARRAY, key: char === OPEN_ARRAY ? 0 : undefined });
    } else if (char === CLOSE_OBJECT || char === CLOSE_ARRAY) {
      levels.pop();
    } else if (char === COMMA) {
      const top = levels.at(-1);
      if (top) top.key = top.isArray ? (top.key as number) + 1 : undefined;
    }
  }
  return '';
}

function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === BACKSLASH) i++;
    else if (char === QUOTE) return i;
  }
  return text.length - 1;
}

function decodeJsonString(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return literal.slice(1, -1);
  }
}

/** `tools[0].function.parameters`; the levels are the containers, the last key is inside the last one. */
function formatPath(levels: readonly Level[]): string {
  let path = '';
  for (const level of levels) {
    if (level.isArray) path += `[${String(level.key)}]`;
    else if (level.key !== undefined) path += path === '' ? String(level.key) : `.${String(level.key)}`;
  }
  return path;
}

/**
 * A request body as JSON: undefined when empty; `invalid_json` when it is not UTF-8 or not JSON;
 * `invalid_request` naming the field when it nests deeper than `maxDepth`.
 */
export function parseJsonBody(buffer: Buffer, maxDepth = MAX_JSON_DEPTH): unknown {
  if (buffer.length === 0) return undefined;
  // Counting brackets natively first spares the scan on the usual small body.
  if (hasMoreBrackets(buffer, maxDepth) && jsonDepth(buffer, maxDepth) > maxDepth) {
    const path = deepFieldPath(buffer, maxDepth);
    const where = path === '' ? 'The request body' : `The field ${path}`;
    throw new FlexiError('invalid_request', `${where} nests deeper than ${maxDepth} levels, the most Flexi accepts.`, path === '' ? {} : { param: path });
  }
  let text: string;
  try {
    text = utf8.decode(buffer);
  } catch {
    throw new FlexiError('invalid_json', 'The request body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FlexiError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** A refused body is read to its end up to this much, so the client can read the 413. */
export const MAX_DRAIN_BYTES = 64 * 1024 * 1024;
/** …and for at most this long; past either bound the connection is cut. */
export const DRAIN_TIMEOUT_MS = 30_000;

/**
 * Keeps reading (and discarding) the rest of a body that was refused as too large, and lets the
 * connection live until it has arrived. Closing the socket while the client is still sending
 * makes the kernel answer its data with a reset, and most clients (Node's fetch among them)
 * then report "fetch failed" instead of the 413 already on its way. Bounded in bytes and time,
 * so a client cannot use it to hold a connection or make the server read without end.
 */
export function drainRefusedBody(request: IncomingMessage, maxBytes = MAX_DRAIN_BYTES, timeoutMs = DRAIN_TIMEOUT_MS): void {
  if (request.complete || request.destroyed) return;
  let drained = 0;
  const cut = () => {
    cleanUp();
    request.socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > maxBytes) cut();
  };
  const timer = setTimeout(cut, timeoutMs);
  timer.unref();
  const cleanUp = () => {
    clearTimeout(timer);
    request.removeListener('data', onData);
  };
  request.on('data', onData);
  request.once('end', cleanUp);
  request.once('close', cleanUp);
  request.resume();
}
