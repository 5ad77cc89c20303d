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

const limit = (description: string) =>
  z.number().int().min(0).nullable().default(null).describe(`${description} \`null\`: unlimited.`);

/** Scheduler priority classes, highest first; a user with several roles gets the highest. */
export const PRIORITY_CLASSES = ['interactive', 'standard', 'batch'] as const;

export const rolePolicySchema = z.object({
  description: z.string().max(200).optional().describe('What the role is for (shown by `flexi users` and the admin API).'),
  models: z.array(z.string().min(1).max(200)).describe('Models the role may use and see, as glob patterns (`*` any characters, `?` one): `llama3*`, `*:8b`, `*`.'),
  endpoints: z.array(z.string().min(1).max(200)).default(['*']).describe('API endpoints the role may call, as glob patterns over the path: `/v1/*`, `/api/chat`, `*`.'),
  max_tokens_per_request: limit('Largest `max_tokens` a request may ask for; requests without one are capped here.'),
  requests_per_minute: limit('Requests per minute (sliding window).'),
  tokens_per_minute: limit('Prompt + completion tokens per minute (sliding window).'),
  tokens_per_day: limit('Token budget per UTC day.'),
  tokens_per_week: limit('Token budget per ISO week (Monday 00:00 UTC).'),
  tokens_per_term: limit('Token budget per term (see `quota.term_starts`).'),
  max_concurrent: limit('Requests of one user running at the same time.'),
  priority: z.enum(PRIORITY_CLASSES).default('standard').describe('Scheduler priority class: `interactive` before `standard` before `batch`.'),
  api_keys: z.boolean().default(false).describe('Users with this role may create their own API keys.'),
  admin: z.boolean().default(false).describe('Grants the admin API (/admin/v1) and admin CLI actions.'),
}).strict();

export type RolePolicyConfig = z.infer<typeof rolePolicySchema>;

const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** Roles every deployment has unless its config redefines them (a role given in config replaces the default of that name). */
export const DEFAULT_ROLES: Readonly<Record<string, z.input<typeof rolePolicySchema>>> = {
  admin: { description: 'Runs the platform', models: ['*'], priority: 'interactive', api_keys: true, admin: true },
  staff: { description: 'Lecturers and staff: chat, course bots', models: ['*'], requests_per_minute: 120, tokens_per_day: 1_000_000, max_concurrent: 8, priority: 'interactive', api_keys: true },
  researcher: { description: 'Selected researchers: API keys and bigger models', models: ['*'], requests_per_minute: 300, tokens_per_minute: 200_000, tokens_per_day: 5_000_000, max_concurrent: 16, priority: 'batch', api_keys: true },
  student: { description: 'Students: mid-size models within a daily budget', models: ['*'], max_tokens_per_request: 2048, requests_per_minute: 20, tokens_per_minute: 20_000, tokens_per_day: 100_000, tokens_per_week: 400_000, max_concurrent: 2, priority: 'interactive' },
  guest: { description: 'Visitors: a small trial budget', models: [], requests_per_minute: 5, tokens_per_day: 10_000, max_concurrent: 1, priority: 'batch' },
};

const oidcSchema = z.object({
  issuer: z.url().describe('Issuer URL of the identity provider (Keycloak: `https://sso.example.org/realms/<realm>`); its `/.well-known/openid-configuration` is read at start.'),
  client_id: z.string().min(1).describe('OIDC client id registered at the provider.'),
  client_secret: z.string().optional().meta({ secret: true }).describe('Client secret (confidential client); omit for a public client with PKCE only.'),
  redirect_uri: z.url().optional().describe('Callback URL registered at the provider; default: `<request origin>/auth/oidc/callback`.'),
  scopes: z.string().default('openid email profile').describe('Scopes asked for (add e.g. `groups` or `roles` where the provider needs it).'),
  email_claim: z.string().default('email').describe('Claim holding the e-mail address.'),
  name_claim: z.string().default('name').describe('Claim holding the display name.'),
  role_mappings: z.array(z.object({
    claim: z.string().min(1).describe('Claim to look at, e.g. `groups`, `eduperson_affiliation`, `realm_access.roles` (dots walk into objects).'),
    value: z.string().min(1).describe('Value (glob pattern) the claim must equal or, for a list claim, contain.'),
    roles: z.array(z.string()).min(1).describe('Flexi roles granted when it matches.'),
  }).strict()).default([]).describe('Claim → role rules; every matching rule adds its roles.'),
  default_roles: z.array(z.string()).default(['guest']).describe('Roles of a user no mapping rule matched.'),
  sync_roles: z.boolean().default(true).describe('Replace the user\'s roles with the mapped ones at every login (the provider is the source of truth).'),
  allow_http: z.boolean().default(false).describe('Allow an `http://` issuer (tests and development only).'),
}).strict();

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
    mode: z.enum(['keys', 'none']).default('keys').describe('`keys`: every request needs an API key or a browser session. `none`: no authentication at all (development only; a warning is printed at start).'),
    session_ttl_ms: durationMs('How long a browser session lasts after login.', 12 * 3_600_000),
    cookie_secure: z.boolean().default(true).describe('Mark session cookies `Secure` (sent over HTTPS only). Turn off only for plain-HTTP development.'),
    cookie_secret: z.string().min(16).default('flexi-dev-cookie-secret-change-me').meta({ secret: true }).describe('Signs the short-lived OIDC login cookie. Set a long random value in production (a warning is printed while the default is used).'),
    login_free_attempts: z.number().int().min(1).default(5).describe('Wrong passwords per account and address before login slows down.'),
    login_backoff_ms: durationMs('First wait after the free attempts; it doubles with every further failure (at most `login_window_ms`).', 1000),
    login_window_ms: durationMs('Failures are forgotten this long after the last one.', 15 * 60_000),
    oidc: oidcSchema.optional().describe('OpenID Connect single sign-on (Keycloak, Shibboleth OIDC front, …).'),
  }).strict().prefault({}).describe('Client authentication.'),
  roles: z.record(z.string().regex(ROLE_NAME, 'lower-case letters, digits, "_" and "-", at most 32'), rolePolicySchema)
    .prefault({})
    .transform((roles) => ({ ...Object.fromEntries(Object.entries(DEFAULT_ROLES).map(([name, role]) => [name, rolePolicySchema.parse(role)])), ...roles }))
    .describe('Roles and their policies. The defaults admin, staff, researcher, student and guest exist unless redefined here.'),
  quota: z.object({
    term_starts: z.array(z.string().regex(/^\d\d-\d\d$/, 'MM-DD')).min(1).default(['04-01', '10-01']).describe('Days (MM-DD, UTC) on which a term begins; `tokens_per_term` budgets reset then.'),
    default_max_tokens: z.number().int().min(1).default(4096).describe('Tokens reserved for a request that sets no `max_tokens` when its role has no `max_tokens_per_request`.'),
    reservation_ttl_ms: durationMs('A reservation not settled within this time is dropped (a replica that crashed cannot hold budget forever).', 15 * 60_000),
  }).strict().prefault({}).describe('Rate limits and token budgets.'),
  redis: z.object({
    url: z.string().optional().meta({ secret: true }).describe('Redis URL (`redis://host:6379`). Set it when several Flexi replicas run: limits and budgets then hold across all of them. Unset: counters live in this process.'),
  }).strict().prefault({}).describe('Shared counters for scale-out.'),
  privacy: z.object({
    pseudonym_secret: z.string().min(16).default('flexi-dev-pseudonym-secret-change-me').meta({ secret: true }).describe('Key of the HMAC that turns user ids into the pseudonyms stored in usage records. Set a long random value; changing it breaks the link to older records.'),
  }).strict().prefault({}).describe('Data protection.'),
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
  usage: z.object({
    flush_interval_ms: durationMs('Usage records are written in batches at this interval (and on shutdown).', 1000),
    batch_size: z.number().int().min(1).default(500).describe('Largest batch of usage records per write.'),
  }).strict().prefault({}).describe('Usage accounting.'),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
  }).strict().prefault({}).describe('Logging.'),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
