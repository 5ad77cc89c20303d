/**
 * Bytes → lines. Chunks may split a line, a CRLF pair or a multi-byte UTF-8 character at any
 * byte; the streaming TextDecoder keeps partial characters between chunks. Accepts LF, CRLF
 * and CR line ends (SSE allows all three).
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array | string>, maxLineBytes = 16 * 1024 * 1024): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let buffer = '';
  let pendingCr = false;
  for await (const chunk of chunks) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (pendingCr) {
      // A CR ended the previous chunk; a LF right after it belongs to the same line end.
      if (text.startsWith('\n')) text = text.slice(1);
      pendingCr = false;
    }
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c === 10 || c === 13) {
        yield buffer.slice(start, i);
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else {
            pendingCr = true;
          }
        }
        start = i + 1;
      }
    }
    buffer = buffer.slice(start);
    if (buffer.length > maxLineBytes) throw new Error(`line longer than ${maxLineBytes} bytes`);
  }
  buffer += decoder.decode();
  if (buffer.length > 0) yield buffer;
}

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/** Lines → server-sent events (data lines joined by "\n"; comments skipped). */
export async function* readSseEvents(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  for await (const line of readLines(chunks)) {
    if (line === '') {
      if (data.length > 0) yield { data: data.join('\n'), event, id };
      data = [];
      event = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  }
  if (data.length > 0) yield { data: data.join('\n'), event, id };
}

/** Lines → parsed JSON values (NDJSON); empty lines are skipped. */
export async function* readNdjson(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<unknown> {
  for await (const line of readLines(chunks)) {
    if (line.trim() === '') continue;
    yield JSON.parse(line) as unknown;
  }
}
