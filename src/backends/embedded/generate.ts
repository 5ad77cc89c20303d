import {
  LlamaChat, LlamaCompletion, TokenBias,
  type ChatHistoryItem, type LlamaGrammar,
} from 'node-llama-cpp';
import { FlexiError, isFlexiError } from '../../core/errors.js';
import type { ChatEvent, ChatMessage, FinishReason, SamplingOptions, ToolCall } from '../../core/types.js';
import { EventChannel } from './event-channel.js';
import type { LoadedLlamaModel } from './loaded-model.js';
import { abortError } from './slot-pool.js';
import { fromFunctionCalls, parseForcedCall, type ToolMode } from './tool-calls.js';

/** What to generate from: a chat history rendered with the model's template, or raw text. */
export type GenerationInput =
  | { kind: 'chat'; history: ChatHistoryItem[]; param: string }
  | { kind: 'raw'; prompt: string; param: string };

export interface GenerationJob {
  model: LoadedLlamaModel;
  input: GenerationInput;
  options: SamplingOptions;
  grammar?: LlamaGrammar;
  /** Tools the model may (functions) or must (forced) call; chat input only. */
  tools?: ToolMode;
  /** Never sample end-of-sequence (fixed-length output; tests and benchmarks). Ignored with a grammar. */
  ignoreEos: boolean;
  /** Time this request waited for its model to load. */
  loadNs: number;
  startedAtNs: bigint;
}

// Ollama's sampling defaults, so a model answers alike on an Ollama node and an embedded one.
const DEFAULT_TEMPERATURE = 0.8;
const DEFAULT_TOP_K = 40;
const DEFAULT_TOP_P = 0.9;

/** Canonical messages → node-llama-cpp chat history, ending with the empty model turn to fill. */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const [index, message] of messages.entries()) {
    if (message.images?.length) {
      throw new FlexiError('unsupported_parameter', `messages[${index}].images: embedded models take text only.`, { param: `messages[${index}].images` });
    }
    switch (message.role) {
      case 'system': history.push({ type: 'system', text: message.content }); break;
      case 'user': history.push({ type: 'user', text: message.content }); break;
      // A call the model made earlier is shown to it as text: the rendered templates have no call syntax.
      case 'assistant': history.push({ type: 'model', response: [message.content + callsAsText(message.toolCalls)] }); break;
      // Tool results go back as user text: the templates node-llama-cpp renders have no tool role.
      case 'tool': history.push({ type: 'user', text: `Tool result${message.toolName ? ` (${message.toolName})` : ''}: ${message.content}` }); break;
    }
  }
  history.push({ type: 'model', response: [] });
  return history;
}

function callsAsText(calls: ChatMessage['toolCalls']): string {
  return (calls ?? []).map((call) => `\n[called ${call.name}(${call.arguments})]`).join('');
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Runs one generation on a free slot of the model and streams canonical events. The slot is held
 * from the first token of the prompt to the last of the reply; an abort (client gone, consumer
 * stopped iterating) stops the evaluation at the next token and returns the slot at once.
 * The slot is free again before `done` is delivered.
 */
export async function* runGeneration(job: GenerationJob, signal: AbortSignal): AsyncGenerator<ChatEvent> {
  const { model } = job;
  const sequence = await model.slots.acquire(signal);
  const controller = new AbortController();
  const forwardAbort = () => controller.abort();
  signal.addEventListener('abort', forwardAbort, { once: true });
  let finished: Promise<unknown> = Promise.resolve();
  let runner: LlamaChat | LlamaCompletion | undefined;
  let done: ChatEvent | undefined;
  try {
    const promptTokens = countPromptTokens(job);
    const available = model.contextSize - promptTokens;
    if (available < 1) {
      throw new FlexiError('context_length_exceeded',
        `The prompt has ${promptTokens} tokens; ${model.name} holds ${model.contextSize} per request (embedded.context_size). Shorten ${job.input.param}.`,
        { param: job.input.param });
    }
    const maxTokens = Math.max(1, Math.min(job.options.maxTokens ?? available, available));
    const channel = new EventChannel<string>();
    const outputBefore = sequence.tokenMeter.getState().usedOutputTokens;
    // A forced call is JSON for the gateway to parse, not text for the client: collect it.
    let forcedText = '';
    const forced = job.tools?.kind === 'forced';
    const common = samplingFor(job, maxTokens, controller.signal, (text) => (forced ? (forcedText += text) : channel.push(text)));
    let stopReason = 'eogToken';
    let toolCalls: ToolCall[] = [];
    const generationStartNs = nowNs();
    if (job.input.kind === 'chat') {
      const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: model.chatWrapper, autoDisposeSequence: false });
      runner = chat;
      // Functions and a grammar exclude each other in node-llama-cpp: with tools offered, the tools win.
      const options = job.tools?.kind === 'functions'
        ? { ...common, grammar: undefined, functions: job.tools.functions, documentFunctionParams: true }
        : common;
      finished = chat.generateResponse(job.input.history, options)
        .then((result) => {
          stopReason = result.metadata.stopReason;
          toolCalls = fromFunctionCalls(result.functionCalls);
          channel.end();
        }, (error: unknown) => channel.fail(error));
    } else {
      const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
      runner = completion;
      finished = completion.generateCompletionWithMeta(job.input.prompt, { ...common, disableContextShift: true })
        .then((result) => { stopReason = result.metadata.stopReason; channel.end(); }, (error: unknown) => channel.fail(error));
    }
    let firstChunkNs: bigint | undefined;
    try {
      for await (const text of channel) {
        // Tokens already buffered when the client left are not delivered.
        if (signal.aborted) throw abortError();
        firstChunkNs ??= nowNs();
        if (text !== '') yield { type: 'delta', content: text };
      }
    } catch (error) {
      if (signal.aborted) throw abortError();
      if (isFlexiError(error)) throw error;
      throw new FlexiError('backend_error', `${model.name}: generation failed: ${(error as Error).message}`, { cause: error });
    }
    // A generation that ran out just as the client left still ends as cancelled, never as done.
    if (signal.aborted) throw abortError();
    if (forced) toolCalls = [parseForcedCall(forcedText)];
    if (toolCalls.length > 0) yield { type: 'delta', toolCalls };
    const endNs = nowNs();
    firstChunkNs ??= endNs;
    const completionTokens = sequence.tokenMeter.getState().usedOutputTokens - outputBefore;
    const finishReason: FinishReason = toolCalls.length > 0 ? 'tool_calls' : stopReason === 'maxTokens' ? 'length' : 'stop';
    done = {
      type: 'done',
      finishReason,
      usage: { promptTokens, completionTokens },
      timings: {
        totalNs: Number(endNs - job.startedAtNs),
        loadNs: job.loadNs,
        promptEvalNs: Number(firstChunkNs - generationStartNs),
        evalNs: Number(endNs - firstChunkNs),
      },
    };
  } finally {
    signal.removeEventListener('abort', forwardAbort);
    controller.abort();
    await finished.catch(() => undefined);
    runner?.dispose({ disposeSequence: false });
    model.slots.release(sequence);
  }
  // Yielded after the slot is back: a consumer may stop iterating at `done` (the gateway does),
  // and a generator suspended at its last yield never runs its `finally`.
  yield done;
}

function countPromptTokens(job: GenerationJob): number {
  const { model } = job;
  if (job.input.kind === 'raw') {
    const bos = model.model.tokens.shouldPrependBosToken && model.model.tokens.bos !== null ? 1 : 0;
    return model.model.tokenize(job.input.prompt).length + bos;
  }
  // Rendering the template here lets an over-long prompt fail with context_length_exceeded
  // instead of being silently cut by LlamaChat's context shift.
  // The tools' documentation is part of the prompt the wrapper renders.
  const availableFunctions = job.tools?.kind === 'functions' ? job.tools.functions : undefined;
  const { contextText } = model.chatWrapper.generateContextState({ chatHistory: job.input.history, availableFunctions, documentFunctionParams: true });
  return contextText.tokenize(model.model.tokenizer).length;
}

function samplingFor(job: GenerationJob, maxTokens: number, signal: AbortSignal, onTextChunk: (text: string) => void) {
  const { options, model } = job;
  const stops = (options.stop ?? []).filter((stop) => stop !== '');
  let tokenBias: TokenBias | undefined;
  const eos = model.model.tokens.eos;
  const grammar = job.tools?.kind === 'forced' ? job.tools.grammar : job.grammar;
  if (job.ignoreEos && !grammar && eos !== null) {
    model.assertValidTokens([eos]);
    tokenBias = neverEndBias(model, eos);
  }
  const penalties = options.frequencyPenalty !== undefined || options.presencePenalty !== undefined;
  return {
    signal,
    stopOnAbortSignal: false,
    onTextChunk,
    maxTokens,
    temperature: options.temperature ?? DEFAULT_TEMPERATURE,
    topK: options.topK ?? DEFAULT_TOP_K,
    topP: options.topP ?? DEFAULT_TOP_P,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(stops.length ? { customStopTriggers: stops } : {}),
    ...(grammar ? { grammar } : {}),
    ...(tokenBias ? { tokenBias } : {}),
    ...(penalties ? { repeatPenalty: { frequencyPenalty: options.frequencyPenalty, presencePenalty: options.presencePenalty } } : {}),
  };
}

/**
 * A bias that forbids end-of-generation. TokenBias.set() silently skips EOS/EOT tokens in
 * node-llama-cpp 3.21.1, so the entry goes into the map the sampler reads (LlamaContext reads
 * `tokenBias._biases`). Only tests and benchmarks use this (fixed-length output).
 */
function neverEndBias(model: LoadedLlamaModel, eos: number): TokenBias {
  const bias = new TokenBias(model.model.tokenizer);
  const biases = (bias as unknown as { _biases?: unknown })._biases;
  if (biases instanceof Map) biases.set(eos, -Infinity);
  return bias;
}
