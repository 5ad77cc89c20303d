/** Longest line a reader keeps before it gives up on the stream. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes → lines, one chunk at a time and synchronously: `push` returns every line the chunk
 * completed. Chunks may split a line, a CRLF pair or a multi-byte UTF-8 character at any byte;
 * the streaming TextDecoder keeps partial characters between chunks. Accepts LF, CRLF and CR
 * line ends (SSE allows all three). Hot paths use it directly: one await per chunk instead of
 * one per line.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private buffer = '';
  private pendingCr = false;

  constructor(private readonly maxLineBytes = MAX_LINE_BYTES) {}

  /** The unfinished line is longer than the limit: the stream is unreadable (callers throw). */
  get isOverLimit(): boolean {
    return this.buffer.length > this.maxLineBytes;
  }

  get limitMessage(): string {
    return `line longer than ${this.maxLineBytes} bytes`;
  }

  push(chunk: Uint8Array | string): string[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.pendingCr) {
      // A CR ended the previous chunk; a LF right after it belongs to the same line end.
      if (text.startsWith('\n')) text = text.slice(1);
      this.pendingCr = false;
    }
    const buffer = this.buffer + text;
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c === 10 || c === 13) {
        lines.push(buffer.slice(start, i));
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else {
            this.pendingCr = true;
          }
        }
        start = i + 1;
      }
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
    return lines;
  }

  /** The last line when the input did not end with a line end. */
  end(): string[] {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    return rest.length > 0 ? [rest] : [];
  }
}

/**
 * Bytes → lines (see `LineSplitter` for the rules), one line per iteration.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array | string>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<string> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of chunks) {
    yield* splitter.push(chunk);
    if (splitter.isOverLimit) throw new Error(splitter.limitMessage);
  }
  yield* splitter.end();
}

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/** Lines → server-sent events, one line at a time (data lines joined by "\n"; comments skipped). */
export class SseParser {
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;

  /** The event this line completed (a blank line after data), if any. */
  push(line: string): SseEvent | undefined {
    if (line === '') {
      const complete = this.data.length > 0 ? { data: this.data.join('\n'), event: this.event, id: this.id } : undefined;
      this.data = [];
      this.event = undefined;
      return complete;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
    return undefined;
  }

  /** An event whose blank line never came (the stream ended after its data). */
  end(): SseEvent | undefined {
    return this.data.length > 0 ? { data: this.data.join('\n'), event: this.event, id: this.id } : undefined;
  }
}

/** Lines → server-sent events (data lines joined by "\n"; comments skipped). */
export async function* readSseEvents(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  for await (const line of readLines(chunks)) {
    const event = parser.push(line);
    if (event) yield event;
  }
  const last = parser.end();
  if (last) yield last;
}

/** Lines → parsed JSON values (NDJSON); empty lines are skipped. */
export async function* readNdjson(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<unknown> {
  for await (const line of readLines(chunks)) {
    if (line.trim() === '') continue;
    yield JSON.parse(line) as unknown;
  }
}
