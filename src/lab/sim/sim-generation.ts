import type { SimLease } from './sim-engine.js';
import { SimBusyError, SimMemoryError } from './sim-state.js';
import { SimHttpError, type SimRequestContext } from './sim-http.js';
import type { SimReply } from './sim-reply.js';

/** Timing of one finished generation, in simulated ms (the Ollama counters, before ×10⁶). */
export interface GenerationStats {
  totalMs: number;
  loadMs: number;
  promptEvalMs: number;
  evalMs: number;
}

export interface GenerationHooks {
  /** Called once the slot is held and prefill is done, before the first token. */
  onStart?(): void;
  onToken(text: string, index: number): void;
  /** The `garbage` fault: write something that is not the protocol, then end the response. */
  onGarbage(): void;
}

/** Tokens a dropped or garbled stream gets out before the fault. */
const TOKENS_BEFORE_FAULT = 3;

/**
 * Runs one generation through the node: injected faults, load, slot, prefill, paced decode.
 * Returns undefined when a fault ended the response; throws SimHttpError for errors that are
 * answered before the first byte, and the abort reason when the client went away.
 */
export async function runGeneration(
  ctx: SimRequestContext,
  modelName: string,
  reply: SimReply,
  keepAliveMs: number | undefined,
  hooks: GenerationHooks,
): Promise<GenerationStats | undefined> {
  const { engine, signal } = ctx;
  const fault = engine.decideFault(ctx.forcedFault);
  if (fault === 'error') throw new SimHttpError(500, 'simulated server error (injected fault)');
  if (fault === 'hang') {
    await new Promise<never>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  const lease = await acquire(ctx, modelName, keepAliveMs);
  try {
    await engine.prefill(lease, reply.promptTokens, signal);
    hooks.onStart?.();
    const faultAt = Math.min(TOKENS_BEFORE_FAULT, reply.evalCount);
    let index = 0;
    const decoded = engine.decode(lease, reply.evalCount, signal);
    for (;;) {
      if (index === faultAt && fault === 'drop') {
        dropConnection(ctx);
        return undefined;
      }
      if (index === faultAt && fault === 'garbage') {
        hooks.onGarbage();
        return undefined;
      }
      const step = await decoded.next();
      if (step.done) break;
      if (index < reply.tokens.length) hooks.onToken(reply.tokens[index]!, index);
      index++;
    }
    engine.completed(lease);
    return {
      totalMs: engine.toSimulatedMs(performance.now() - ctx.startedAtMs),
      loadMs: lease.loadMs,
      promptEvalMs: lease.promptEvalMs,
      evalMs: lease.evalMs,
    };
  } finally {
    lease.release();
  }
}

/** Leases a slot, turning the engine's refusals into protocol errors. */
export async function acquire(ctx: SimRequestContext, modelName: string, keepAliveMs: number | undefined): Promise<SimLease> {
  try {
    return await ctx.engine.acquire(modelName, ctx.signal, keepAliveMs);
  } catch (error) {
    throw toHttpError(error);
  }
}

export function toHttpError(error: unknown): unknown {
  if (error instanceof SimBusyError) return new SimHttpError(503, error.message);
  if (error instanceof SimMemoryError) return new SimHttpError(500, error.message);
  return error;
}

const dropped = new WeakSet<SimRequestContext>();

/**
 * The `drop` fault: end the TCP connection mid-response. `end()` rather than `destroy()` so
 * the tokens already written reach the client first; the chunked body stays unterminated.
 */
export function dropConnection(ctx: SimRequestContext): void {
  dropped.add(ctx);
  const socket = ctx.res.socket;
  if (!socket) return;
  socket.end();
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The server counts a closed socket as a client disconnect unless the sim closed it itself. */
export function wasDropped(ctx: SimRequestContext): boolean {
  return dropped.has(ctx);
}

/** Simulated ms → Ollama's integer nanoseconds. */
export function toNs(ms: number): number {
  return Math.round(ms * 1e6);
}
