import { z } from 'zod';

/**
 * Ollama wire schemas (requests). Durations on this wire are nanoseconds. Unknown fields are
 * accepted and ignored, as Ollama does. Source: ollama/ollama docs/api.md, api/types.go.
 */

/** keep_alive: seconds as a number or a Go duration string ("5m", "1h30m", "-1"). */
export const keepAliveSchema = z.union([z.number(), z.string().max(32)]).optional();

export const ollamaOptionsSchema = z.looseObject({
  temperature: z.number().min(0).max(100).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  num_predict: z.number().int().min(-2).optional(),
  num_ctx: z.number().int().min(1).optional(),
  frequency_penalty: z.number().optional(),
  presence_penalty: z.number().optional(),
}).optional();

const formatSchema = z.union([z.literal('json'), z.literal(''), z.record(z.string(), z.unknown())]).optional();

const ollamaToolCallSchema = z.object({
  id: z.string().optional(),
  function: z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional(), index: z.number().optional() }),
});

export const ollamaMessageSchema = z.looseObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().optional().default(''),
  images: z.array(z.string()).nullable().optional(),
  tool_calls: z.array(ollamaToolCallSchema).optional(),
  tool_name: z.string().optional(),
  thinking: z.string().optional(),
});

const ollamaToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }),
});

export const ollamaChatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(ollamaMessageSchema).optional(),
  tools: z.array(ollamaToolSchema).optional(),
  format: formatSchema,
  options: ollamaOptionsSchema,
  stream: z.boolean().optional(),
  keep_alive: keepAliveSchema,
  think: z.union([z.boolean(), z.string()]).optional(),
});
export type OllamaChatRequest = z.infer<typeof ollamaChatRequestSchema>;

export const ollamaGenerateRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  prompt: z.string().optional(),
  suffix: z.string().optional(),
  system: z.string().optional(),
  template: z.string().optional(),
  images: z.array(z.string()).nullable().optional(),
  format: formatSchema,
  options: ollamaOptionsSchema,
  stream: z.boolean().optional(),
  raw: z.boolean().optional(),
  keep_alive: keepAliveSchema,
  think: z.union([z.boolean(), z.string()]).optional(),
});
export type OllamaGenerateRequest = z.infer<typeof ollamaGenerateRequestSchema>;

export const ollamaEmbedRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).max(2048)]),
  truncate: z.boolean().optional(),
  dimensions: z.number().int().min(1).optional(),
  options: ollamaOptionsSchema,
  keep_alive: keepAliveSchema,
});

export const ollamaLegacyEmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  prompt: z.string(),
  options: ollamaOptionsSchema,
  keep_alive: keepAliveSchema,
});

export const ollamaShowRequestSchema = z.looseObject({
  model: z.string().min(1).max(256).optional(),
  /** Deprecated alias of `model`. */
  name: z.string().min(1).max(256).optional(),
  verbose: z.boolean().optional(),
});

/** Go-style duration ("5m", "1h30m", "300ms", "-1") or seconds → seconds. Undefined when invalid. */
export function parseKeepAlive(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unitSeconds: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(re)) {
    total += Number(match[1]) * unitSeconds[match[2]!]!;
    consumed += match[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}
