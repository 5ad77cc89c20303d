// Streams answers with the session cookie: the server-written answers of /ui/v1/chats/:id/answer
// (they go on when the page closes) and, for other callers, /v1/chat/completions (OpenAI SSE).
import { ApiError, csrfHeader, toApiError, type UiAnswerEvent } from './api';

export interface StreamHandlers {
  /** Text as it arrives. */
  onDelta(text: string): void;
  /** The scheduler queued the request: `: queued position=N eta_ms=M` comments. */
  onQueued(position: number, etaMs: number | undefined): void;
}

export interface StreamRequest {
  model: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  temperature?: number;
}

/** A passage a course bot's answer cites (the last chunk before `[DONE]` carries them). */
export interface StreamSource {
  index: number;
  document: string;
  page?: number;
  section?: string;
  excerpt: string;
}

export interface StreamResult {
  finish: 'stop' | 'length' | 'stopped' | 'error';
  error?: ApiError;
  /** A course bot's sources; `refused`: it answered with its refusal text. */
  sources?: StreamSource[];
  refused?: boolean;
}

const QUEUED = /^:\s*queued position=(\d+)(?: eta_ms=(\d+))?/;

/** Reads SSE events; comments and data lines are handed over one line at a time. */
async function* sseLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line !== '') yield line;
      }
    }
    buffer += decoder.decode();
    if (buffer.trim() !== '') yield buffer.trim();
  } finally {
    reader.releaseLock();
  }
}

/**
 * Runs one streamed completion. Aborting `signal` (the stop button) ends it with `stopped`;
 * the gateway then cancels the request upstream and frees the slot.
 */
export async function streamChat(request: StreamRequest, handlers: StreamHandlers, signal: AbortSignal): Promise<StreamResult> {
  let finish: StreamResult['finish'] = 'stop';
  let sources: StreamSource[] | undefined;
  let refused = false;
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...csrfHeader() },
      body: JSON.stringify({ ...request, stream: true }),
      signal,
    });
    if (!response.ok || !response.body) return { finish: 'error', error: await toApiError(response) };
    for await (const line of sseLines(response.body)) {
      if (line.startsWith(':')) {
        const queued = QUEUED.exec(line);
        if (queued) handlers.onQueued(Number(queued[1]), queued[2] === undefined ? undefined : Number(queued[2]));
        continue;
      }
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') break;
      const frame = JSON.parse(data) as {
        error?: { message: string; code?: string };
        choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
        sources?: StreamSource[];
        refused?: boolean;
      };
      if (frame.sources) sources = frame.sources;
      if (frame.refused) refused = true;
      if (frame.error) {
        return { finish: 'error', error: new ApiError(500, frame.error.code ?? 'error', frame.error.message) };
      }
      const choice = frame.choices?.[0];
      if (choice?.delta?.content) handlers.onDelta(choice.delta.content);
      if (choice?.finish_reason === 'length') finish = 'length';
    }
    return { finish, ...(sources ? { sources } : {}), ...(refused ? { refused } : {}) };
  } catch (error) {
    if (signal.aborted) return { finish: 'stopped' };
    return { finish: 'error', error: error instanceof ApiError ? error : new ApiError(0, 'network_error', (error as Error).message) };
  }
}

/**
 * Follows an answer the server writes: `POST /ui/v1/chats/:id/answer` starts one (with `body`),
 * `GET` attaches to the one in progress. Aborting `signal` only stops following: the server goes
 * on and stores the answer (the Stop button calls `stopAnswer`). Resolves with the last event
 * (`done` or `error`), or undefined when the connection ended before it.
 */
export async function followAnswer(
  chatId: string, body: unknown | undefined, onEvent: (event: UiAnswerEvent) => void, signal: AbortSignal,
): Promise<UiAnswerEvent | undefined> {
  const response = await fetch(`/ui/v1/chats/${encodeURIComponent(chatId)}/answer`, {
    method: body === undefined ? 'GET' : 'POST',
    credentials: 'same-origin',
    headers: { accept: 'text/event-stream', ...(body === undefined ? {} : { 'content-type': 'application/json', ...csrfHeader() }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok || !response.body) throw await toApiError(response);
  let last: UiAnswerEvent | undefined;
  try {
    for await (const line of sseLines(response.body)) {
      if (!line.startsWith('data:')) continue;
      const event = JSON.parse(line.slice(5).trim()) as UiAnswerEvent;
      onEvent(event);
      if (event.type === 'done' || event.type === 'error') last = event;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
  return last;
}
