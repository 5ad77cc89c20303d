import { z } from 'zod';

/**
 * The one configuration schema. Every key has a description (docs/configuration.md is
 * generated from it) and can be overridden by an environment variable named after its path:
 * `server.port` → `FLEXI_SERVER_PORT`. Lists and maps take JSON in the variable
 * (`FLEXI_NODES='[{"name":"a","type":"ollama","url":"http://gpu1:11434"}]'`).
 * Keys are snake_case like the YAML file they come from.
 */

const durationMs = (description: string, def: number) =>
  z.number().int().min(0).default(def).describe(description);

export const nodeSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'letters, digits, ".", "_" and "-", at most 63').describe('Unique node name, used in logs, metrics and `flexi nodes`.'),
  type: z.enum(['ollama', 'openai', 'sim', 'embedded']).describe('Protocol/engine: `ollama` (native Ollama API), `openai` (vLLM, llama.cpp server, LM Studio…), `sim` (a `flexi sim` server), `embedded` (in-process llama.cpp).'),
  url: z.url({ protocol: /^https?$/ }).optional().describe('Base URL as the server\'s own clients take it: `http://host:11434` for Ollama, `http://host:8000/v1` for OpenAI-compatible servers, the sim\'s base URL. Not used by `embedded`.'),
  api_key: z.string().optional().meta({ secret: true }).describe('Bearer token sent to an OpenAI-compatible node, if it needs one.'),
  models_dir: z.string().optional().describe('Folder of `.gguf` files served by an `embedded` node (default `./models`).'),
  slots: z.number().int().min(1).max(1024).optional().describe('Parallel requests per model on this node; defaults to what the node reports, else 1 (Ollama), 8 (OpenAI), 4 (sim).'),
  timeout_ms: z.number().int().min(1000).optional().describe('Longest wait for the first byte from this node before the request fails (default: `upstream.first_byte_timeout_ms`).'),
  models: z.array(z.string()).optional().describe('Restrict the node to these models (Flexi still discovers the rest but does not route to them).'),
}).strict();

export const priorityClassSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, "_" and "-", at most 32').describe('Class name roles and requests refer to, e.g. `interactive`.'),
  max_wait_ms: z.number().int().min(0).describe('Deadline: longest a request of this class may wait for a slot before it is refused with 503.'),
}).strict();

export const schedulerConfigSchema = z.object({
  enabled: z.boolean().default(true).describe('Queue and place requests with the scheduler. `false` forwards at once to the least-busy node with no queue (a plain load balancer; for comparisons only).'),
  probe_interval_ms: z.number().int().min(200).default(5000).describe('How often every node is probed for health and, for Ollama/sim/embedded nodes, for the models resident in memory (`/api/ps`).'),
  classes: z.array(priorityClassSchema).min(1).default([
    { name: 'interactive', max_wait_ms: 60_000 },
    { name: 'batch', max_wait_ms: 600_000 },
  ]).describe('Priority classes, highest first: a waiting request of an earlier class always starts before one of a later class.'),
  default_class: z.string().default('interactive').describe('Class of requests whose role names none.'),
  max_queue_per_model: z.number().int().min(1).default(1000).describe('Most requests waiting per model; when full, the user furthest over their fair share loses their newest request (429), else the newcomer gets 503.'),
  max_in_flight_per_user: z.number().int().min(1).default(8).describe('Most requests one user may have running at once (all models); further ones wait in the queue.'),
  breaker_failures: z.number().int().min(1).default(5).describe('Consecutive node failures that open the node\'s circuit breaker.'),
  breaker_cooldown_ms: durationMs('How long an open breaker keeps a node out before one probe request is let through.', 30_000),
  drain_rate_window_ms: z.number().int().min(1000).default(60_000).describe('Time constant of the moving average of completions per second, measured while requests wait (Retry-After, deadline prediction).'),
  max_retry_after_s: z.number().int().min(1).default(600).describe('Upper bound of the Retry-After seconds sent with 429/503.'),
}).strict().refine((s) => s.classes.some((c) => c.name === s.default_class), { message: 'default_class must name one of classes', path: ['default_class'] })
  .refine((s) => new Set(s.classes.map((c) => c.name)).size === s.classes.length, { message: 'class names must be unique', path: ['classes'] });

export const configSchema = z.object({
  server: z.object({
    host: z.string().default('127.0.0.1').describe('Address to listen on. Use 0.0.0.0 behind an ingress.'),
    port: z.number().int().min(0).max(65535).default(8400).describe('TCP port.'),
    body_limit_bytes: z.number().int().min(1024).default(4 * 1024 * 1024).describe('Largest accepted request body; larger bodies get 413.'),
    trust_proxy: z.boolean().default(false).describe('Trust X-Forwarded-* headers from a reverse proxy.'),
    shutdown_grace_ms: durationMs('How long SIGTERM waits for in-flight requests before closing.', 10_000),
  }).strict().prefault({}).describe('HTTP listener.'),
  database: z.object({
    url: z.string().default('./data/flexi.db').meta({ secret: true }).describe('A `postgres://` URL (scale-out) or a SQLite file path (default, WAL mode).'),
  }).strict().prefault({}).describe('Where users, keys and usage records live.'),
  auth: z.object({
    mode: z.enum(['keys', 'none']).default('keys').describe('`keys`: every request needs an API key. `none`: no authentication at all (development only; a warning is printed at start).'),
  }).strict().prefault({}).describe('Client authentication.'),
  nodes: z.array(nodeSchema).optional().describe('Inference servers. Missing: an embedded node over `./models`, plus an Ollama at 127.0.0.1:11434 if one answers.'),
  models: z.object({
    aliases: z.record(z.string(), z.string()).default({}).describe('Extra names for models, e.g. `gpt-4o: llama3:8b` for clients with fixed model names.'),
    refresh_interval_ms: durationMs('How often the model list of every node is refreshed.', 30_000),
  }).strict().prefault({}).describe('Model discovery and naming.'),
  upstream: z.object({
    first_byte_timeout_ms: durationMs('Longest wait for a node\'s first byte (covers model loading).', 300_000),
    idle_timeout_ms: durationMs('Longest silence inside a stream before it is cut.', 120_000),
    connections_per_node: z.number().int().min(1).default(256).describe('Keep-alive connections pooled per node.'),
    retry_before_first_byte: z.boolean().default(true).describe('Retry once on another node when a request failed before any byte was sent to the client.'),
  }).strict().prefault({}).describe('How Flexi talks to nodes.'),
  scheduler: schedulerConfigSchema.prefault({}).describe('Admission queue, fair share, priorities, deadlines and node circuit breakers.'),
  usage: z.object({
    flush_interval_ms: durationMs('Usage records are written in batches at this interval (and on shutdown).', 1000),
    batch_size: z.number().int().min(1).default(500).describe('Largest batch of usage records per write.'),
  }).strict().prefault({}).describe('Usage accounting.'),
  embedded: z.object({
    gpu: z.union([z.enum(['auto', 'cuda', 'vulkan', 'cpu']), z.literal(false)]).default('auto').describe('GPU for `embedded` nodes: `auto` uses a CUDA/Vulkan build when one is installed and falls back to CPU; `cuda`/`vulkan` require that build (see docs/embedded.md); `cpu` (or `false`) forces the CPU.'),
    threads: z.number().int().min(0).max(256).default(0).describe('CPU threads per evaluation; 0 = automatic (1 on ≤ 2 cores, else half the cores, at most 8). More threads than cores make llama.cpp slower, not faster.'),
    context_size: z.number().int().min(64).default(4096).describe('Context window per request slot, in tokens; capped at the model\'s training context.'),
    default_slots: z.number().int().min(1).max(64).default(4).describe('Parallel request slots per loaded model when the node sets no `slots`. Requests beyond the slots wait in a FIFO.'),
    keep_alive_seconds: z.number().int().default(300).describe('How long a model stays loaded after its last request when the request sets no keep_alive (Ollama semantics: 0 unloads after the reply, negative keeps it loaded).'),
    memory_budget_bytes: z.number().int().min(0).default(0).describe('Largest total estimated memory (weights + KV cache) of the models an embedded node keeps loaded; idle models are unloaded to make room. 0 = 75% of the machine\'s RAM.'),
  }).strict().prefault({}).describe('In-process llama.cpp engine (node-llama-cpp) used by nodes of type `embedded`.'),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
  }).strict().prefault({}).describe('Logging.'),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
export type SchedulerConfig = z.infer<typeof schedulerConfigSchema>;
