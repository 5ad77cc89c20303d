import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { FlexiError, toFlexiError } from '../core/errors.js';
import type { ChatEvent, EngineTimings, FinishReason, ReplyAnnotations, ToolCall, Usage } from '../core/types.js';
import type { StartedGeneration } from '../services/inference/inference.service.js';

/** Turns canonical events into one wire protocol's stream frames. */
export interface StreamEncoder {
  readonly contentType: string;
  /** Frames for one event (a `done` event yields the protocol's closing frames). */
  encode(event: ChatEvent): string;
  /** One in-band error frame; the stream ends after it. */
  encodeError(error: FlexiError): string;
}

export interface StreamOutcome {
  /** Set when the stream failed after the first byte (already reported in-band). */
  error?: FlexiError;
}

function waitForDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/**
 * A streaming response whose request is still waiting for a node. Its first comment commits
 * the 200 and the SSE headers, so proxies see traffic and the client sees its queue position;
 * a refusal after that can only be an in-band error frame.
 */
export class PendingSseStream {
  private committed = false;

  constructor(private readonly reply: FastifyReply, private readonly headers: Record<string, string>) {}

  get isCommitted(): boolean {
    return this.committed;
  }

  /** `headers`: more headers for the response, sent only if this comment commits it. */
  comment(text: string, headers?: Record<string, string>): void {
    const res = this.reply.raw;
    if (res.destroyed) return;
    if (!this.committed) {
      this.committed = true;
      this.reply.hijack();
      res.writeHead(200, { ...headers, ...this.headers, ...SSE_HEADERS });
    }
    res.write(`: ${text.replace(/[\r\n]/g, ' ')}\n\n`);
  }

  /** Ends a committed stream with one error frame. */
  fail(error: FlexiError, encoder: StreamEncoder): void {
    const res = this.reply.raw;
    if (!res.destroyed) res.end(encoder.encodeError(error));
  }
}

/**
 * Streams a started generation. Headers go out with the first event (errors before it had a
 * real status); a failure after it becomes one in-band error frame. A client that goes away
 * stops the loop, and leaving the loop cancels the upstream request (generator return()).
 */
export async function writeStream(
  reply: FastifyReply, started: StartedGeneration, encoder: StreamEncoder, headers: Record<string, string>, pending?: PendingSseStream,
): Promise<StreamOutcome> {
  const res = reply.raw;
  if (!pending?.isCommitted) {
    reply.hijack();
    // No flushHeaders(): the first event is already here, and writing it sends the headers in the
    // same packet, one syscall fewer per stream.
    res.writeHead(200, {
      ...headers,
      'content-type': encoder.contentType,
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
  }
  try {
    if (!res.write(encoder.encode(started.first))) await waitForDrainOrClose(res);
    for await (const event of started.events) {
      if (res.destroyed) break;
      if (!res.write(encoder.encode(event))) await waitForDrainOrClose(res);
    }
    res.end();
    return {};
  } catch (error) {
    const failure = toFlexiError(error);
    if (!res.destroyed) res.end(encoder.encodeError(failure));
    return { error: failure };
  }
}

export interface CollectedGeneration {
  content: string;
  thinking: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  timings: EngineTimings;
  /** A virtual model's sources and refusal, when it has any. */
  annotations?: ReplyAnnotations;
}

/** Runs a started generation to its end for a non-streaming response. */
export async function collect(started: StartedGeneration): Promise<CollectedGeneration> {
  const content: string[] = [];
  const thinking: string[] = [];
  const toolCalls: ToolCall[] = [];
  let done: Extract<ChatEvent, { type: 'done' }> | undefined;
  const take = (event: ChatEvent) => {
    if (event.type === 'done') {
      done = event;
      return;
    }
    if (event.content) content.push(event.content);
    if (event.thinking) thinking.push(event.thinking);
    if (event.toolCalls) toolCalls.push(...event.toolCalls);
  };
  take(started.first);
  for await (const event of started.events) take(event);
  if (!done) throw new FlexiError('backend_error', 'The node ended the stream without a final event.');
  const final = done as Extract<ChatEvent, { type: 'done' }>;
  return {
    content: content.join(''),
    thinking: thinking.join(''),
    toolCalls,
    finishReason: final.finishReason,
    usage: final.usage,
    timings: final.timings,
    annotations: final.annotations,
  };
}
