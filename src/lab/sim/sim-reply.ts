import { countTokens, outputLength } from './performance.js';
import { createRng, generateTokens, type Rng } from './prng.js';
import type { SimModelProfile } from './profile.js';
import type { SimEvalOracle } from './sim-evals.js';

/** A tool the client offers, in either protocol's shape reduced to what the sim needs. */
export interface SimTool {
  name: string;
  /** JSON schema of the arguments. */
  parameters?: unknown;
}

export interface SimReplyRequest {
  model: SimModelProfile;
  seed: number;
  /** The whole prompt as text (all messages), for the prompt token count and the text seed. */
  promptText: string;
  /** The last user message (or the generate prompt): matched against calibrated prompts. */
  lastUserText: string;
  /** Answer keys of benchmark files: a known item's reply is the model's answer to it. */
  oracle?: SimEvalOracle;
  /** Extra prompt tokens a chat template adds per message. */
  templateTokens?: number;
  maxTokens?: number;
  requestSeed?: number;
  stop?: string[];
  /** true for plain JSON mode; a JSON schema object for structured output. */
  json?: boolean | Record<string, unknown>;
  tools?: SimTool[];
  /** 'none' | 'auto' | 'required' | a tool name. */
  toolChoice?: string;
}

export interface SimReply {
  promptTokens: number;
  /** Content tokens, streamed one per chunk. */
  tokens: string[];
  /** Tokens decoded, which for a tool call is more than the content tokens. */
  evalCount: number;
  finishReason: 'stop' | 'length' | 'tool_calls';
  toolCall?: { name: string; arguments: Record<string, unknown> };
}

/** Plans the whole answer up front, deterministically; streaming then only paces it. */
export function planReply(request: SimReplyRequest): SimReply {
  const { model, seed } = request;
  const promptTokens = countTokens(request.promptText) + (request.templateTokens ?? 0);
  const rng = createRng(seed, 'text', model.name, request.promptText, request.requestSeed ?? '');
  const wanted = outputLength(model, seed, request.lastUserText, request.requestSeed);
  const cap = request.maxTokens !== undefined && request.maxTokens >= 0 ? request.maxTokens : Infinity;

  const tool = pickTool(request);
  if (tool) {
    const args = toolArguments(tool, rng);
    const evalCount = Math.min(cap, Math.max(8, countTokens(JSON.stringify(args)) + 6));
    return { promptTokens, tokens: [], evalCount, finishReason: 'tool_calls', toolCall: { name: tool.name, arguments: args } };
  }

  const evalAnswer = request.json ? undefined : request.oracle?.answerChat(model, request.lastUserText);
  if (evalAnswer !== undefined) {
    const tokens = (evalAnswer.match(/\s*\S+/g) ?? []).slice(0, cap);
    return { promptTokens, tokens, evalCount: tokens.length, finishReason: 'stop' };
  }

  let tokens = request.json ? splitJson(jsonContent(request.json, rng, Math.min(wanted, 12))) : generateTokens(rng, Math.min(wanted, cap));
  let finishReason: SimReply['finishReason'] = 'stop';
  if (tokens.length > cap) {
    tokens = tokens.slice(0, cap);
    finishReason = 'length';
  } else if (!request.json && wanted > cap) {
    finishReason = 'length';
  }
  const stopped = applyStop(tokens, request.stop ?? []);
  if (stopped) {
    tokens = stopped;
    finishReason = 'stop';
  }
  return { promptTokens, tokens, evalCount: tokens.length, finishReason };
}

function pickTool(request: SimReplyRequest): SimTool | undefined {
  const tools = request.tools ?? [];
  if (tools.length === 0 || request.toolChoice === 'none') return undefined;
  const named = tools.find((tool) => tool.name === request.toolChoice);
  if (named) return named;
  if (request.toolChoice === 'required' || /\bweather\b/i.test(request.lastUserText)) return tools[0];
  return undefined;
}

/** Deterministic arguments that satisfy the tool's schema for the common types. */
function toolArguments(tool: SimTool, rng: Rng): Record<string, unknown> {
  const schema = asObject(tool.parameters);
  const properties = asObject(schema?.properties) ?? {};
  const required = Array.isArray(schema?.required) ? (schema.required as unknown[]).map(String) : Object.keys(properties);
  const args: Record<string, unknown> = {};
  for (const key of required) args[key] = exampleValue(key, asObject(properties[key]), rng);
  return args;
}

function exampleValue(key: string, schema: Record<string, unknown> | undefined, rng: Rng): unknown {
  if (Array.isArray(schema?.enum) && schema.enum.length > 0) return schema.enum[0];
  switch (schema?.type) {
    case 'number':
    case 'integer':
      return 1 + rng.int(20);
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return {};
    default:
      if (/location|city|place/i.test(key)) return 'Hagen';
      return generateTokens(rng, 2).join('').replace(/\.$/, '').toLowerCase();
  }
}

function jsonContent(json: boolean | Record<string, unknown>, rng: Rng, words: number): string {
  const properties = typeof json === 'object' ? asObject(json.properties) : undefined;
  if (properties && Object.keys(properties).length > 0) {
    const out: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(properties)) out[key] = exampleValue(key, asObject(schema), rng);
    return JSON.stringify(out);
  }
  return JSON.stringify({ answer: generateTokens(rng, Math.max(1, words)).join('') });
}

/** JSON text in pieces of about four characters, like a tokenizer would cut it. */
function splitJson(text: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += 4) pieces.push(text.slice(i, i + 4));
  return pieces;
}

/** Tokens cut just before the first stop string, or undefined when none occurs. */
function applyStop(tokens: string[], stop: string[]): string[] | undefined {
  const stops = stop.filter((s) => s.length > 0);
  if (stops.length === 0) return undefined;
  const text = tokens.join('');
  let cut = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  if (cut < 0) return undefined;
  const out: string[] = [];
  let length = 0;
  for (const token of tokens) {
    if (length + token.length <= cut) {
      out.push(token);
      length += token.length;
    } else {
      if (cut > length) out.push(token.slice(0, cut - length));
      break;
    }
  }
  return out;
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
