import { z } from 'zod';
import { isAddressOrCidr } from '../lib/address-list.js';
import { isNetwork } from '../lib/ip-address.js';

/**
 * The one configuration schema. Every key has a description (docs/configuration.md is
 * generated from it) and can be overridden by an environment variable named after its path:
 * `server.port` → `FLEXI_SERVER_PORT`. Lists and maps take JSON in the variable
 * (`FLEXI_NODES='[{"name":"a","type":"ollama","url":"http://gpu1:11434"}]'`).
 * Keys are snake_case like the YAML file they come from.
 */

/** `models.pull.allow_hosts` entries: a host name, `*.domain`, or `*`. */
const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/i;

const durationMs = (description: string, def: number) =>
  z.number().int().min(0).default(def).describe(description);

export const nodeSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'letters, digits, ".", "_" and "-", at most 63').describe('Unique node name, used in logs, metrics and `flexi nodes`.'),
  type: z.enum(['ollama', 'openai', 'sim', 'embedded']).describe('Protocol/engine: `ollama` (native Ollama API), `openai` (vLLM, llama.cpp server, LM Studio…), `sim` (a `flexi sim` server), `embedded` (in-process llama.cpp).'),
  url: z.url({ protocol: /^https?$/ }).optional().describe('Base URL as the server\'s own clients take it: `http://host:11434` for Ollama, `http://host:8000/v1` for OpenAI-compatible servers, the sim\'s base URL. Not used by `embedded`.'),
  api_key: z.string().optional().meta({ secret: true }).describe('Bearer token sent to an OpenAI-compatible node, if it needs one.'),
  models_dir: z.string().optional().describe('Folder of `.gguf` files served by an `embedded` node (default `./models`).'),
  slots: z.number().int().min(1).max(1024).optional().describe('Most requests per model Flexi sends to this node at once, and where it starts. Without it Flexi learns the limit per model from time to first token and token rate (up to 64; it starts at what the node reports, else 1 for Ollama and 4 for sim, and at 64 for OpenAI-type servers, which batch continuously). The embedded engine uses `embedded.default_slots`.'),
  timeout_ms: z.number().int().min(1000).optional().describe('Longest wait for the first byte from this node before the request fails (default: `upstream.first_byte_timeout_ms`).'),
  models: z.array(z.string()).optional().describe('Restrict the node to these models (Flexi still discovers the rest but does not route to them).'),
}).strict();

export const priorityClassSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, "_" and "-", at most 32').describe('Class name roles and requests refer to, e.g. `interactive`.'),
  max_wait_ms: z.number().int().min(0).describe('Deadline: longest a request of this class may wait for a slot before it is refused with 503.'),
  max_share: z.number().gt(0).max(1).default(1).describe('Largest share of a model\'s slots (over all nodes) this class may hold at once; below 1 it keeps slots free for higher classes, so long batch jobs cannot fill a model before a rush.'),
  placement: z.enum(['spread', 'pack']).default('spread').describe('How requests of this class pick a node among those where the model is loaded: `spread` takes the least loaded (shortest time to first token: interactive use), `pack` the fullest one with a free slot (long jobs fill few GPUs and leave the rest idle for a rush).'),
}).strict();

export const schedulerConfigSchema = z.object({
  enabled: z.boolean().default(true).describe('Queue and place requests with the scheduler. `false` forwards at once to the least-busy node with no queue (a plain load balancer; for comparisons only).'),
  probe_interval_ms: z.number().int().min(200).default(5000).describe('How often every node is probed for health and, for Ollama/sim/embedded nodes, for the models resident in memory (`/api/ps`).'),
  classes: z.array(priorityClassSchema).min(1).default([
    { name: 'interactive', max_wait_ms: 60_000, max_share: 1, placement: 'spread' },
    { name: 'standard', max_wait_ms: 120_000, max_share: 1, placement: 'spread' },
    { name: 'batch', max_wait_ms: 300_000, max_share: 0.25, placement: 'pack' },
  ]).describe('Priority classes, highest first: a waiting request of an earlier class always starts before one of a later class. Roles name their class with `priority` (interactive, standard or batch).'),
  default_class: z.string().default('standard').describe('Class of requests whose role names none.'),
  max_queue_per_model: z.number().int().min(1).default(1000).describe('Most requests waiting per model; when full, the user furthest over their fair share loses their newest request (429), else the newcomer gets 503.'),
  max_in_flight_per_user: z.number().int().min(1).default(8).describe('Most requests one user may have running at once (all models); further ones wait in the queue.'),
  breaker_failures: z.number().int().min(1).default(5).describe('Consecutive node failures that open the node\'s circuit breaker.'),
  breaker_cooldown_ms: durationMs('How long an open breaker keeps a node out before one probe request is let through.', 30_000),
  drain_rate_window_ms: z.number().int().min(1000).default(60_000).describe('Time constant of the moving average of completions per second, measured while requests wait (Retry-After, deadline prediction).'),
  max_retry_after_s: z.number().int().min(1).default(600).describe('Upper bound of the Retry-After seconds sent with 429/503.'),
  lend_idle_after_ms: z.number().int().min(0).default(0).describe('A class may use more than its `max_share` while no higher class has asked for the model for this long: idle GPUs are lent to batch (at night, say) and come back as its requests end once interactive use returns — which can take as long as a batch request runs. 0 never lends (the default: a rush finds its slots at once).'),
  newcomer_reserve: z.number().min(0).max(0.5).default(0.125).describe('Share of a model\'s slots kept free for users with nothing running on it while others are around, so a newcomer starts at once instead of waiting for a heavy user\'s stream to end: at least 1 slot on a model with 2 or more, none with 1 (4 slots: 1; 16: 2; 32: 4). A user who already runs a request of the model does not take the last reserved slots. 0 turns it off.'),
  newcomer_window_ms: z.number().int().min(0).default(60_000).describe('The newcomer reserve holds while another user (one with nothing waiting) runs a request of the model or asked for it or finished one this recently; after that it is lent to the users left, and a newcomer then waits for the first slot to free.'),
  preload_replicas: z.boolean().default(true).describe('When a `spread` request finds every loaded copy of its model busy, load the model on an idle node ahead of demand — only where it fits without evicting anything (a node of unknown memory only while it holds no model). The next requests then start there without a cold load.'),
}).strict().refine((s) => s.classes.some((c) => c.name === s.default_class), { message: 'default_class must name one of classes', path: ['default_class'] })
  .refine((s) => new Set(s.classes.map((c) => c.name)).size === s.classes.length, { message: 'class names must be unique', path: ['classes'] });

const retentionDays = (description: string, def: number | null) =>
  z.number().int().min(0).nullable().default(def).describe(`${description} \`0\` or \`null\`: kept until deleted by hand.`);

const limit = (description: string) =>
  z.number().int().min(0).nullable().default(null).describe(`${description} \`null\`: unlimited.`);

/** Scheduler priority classes, highest first; a user with several roles gets the highest. */
export const PRIORITY_CLASSES = ['interactive', 'standard', 'batch'] as const;

export const rolePolicySchema = z.object({
  description: z.string().max(200).optional().describe('What the role is for (shown by `flexi users` and the admin API).'),
  models: z.array(z.string().min(1).max(200)).describe('Models the role may use and see, as glob patterns (`*` any characters, `?` one): `llama3*`, `*:8b`, `*`.'),
  endpoints: z.array(z.string().min(1).max(200)).default(['*']).describe('API endpoints the role may call, as glob patterns over the path: `/v1/*`, `/api/chat`, `*`.'),
  max_tokens_per_request: limit('Largest `max_tokens` a request may ask for; requests without one are capped here.'),
  max_input_tokens: limit('Largest input (messages, prompt or embedding input) a request may carry, counted as its token budget reservation counts it: one token per UTF-8 byte plus template overhead per message, a bound that never under-counts (so it caps bytes, roughly 4× the real tokens of English text). Larger requests get 400 `input_too_long`.'),
  requests_per_minute: limit('Requests per minute (sliding window).'),
  tokens_per_minute: limit('Prompt + completion tokens per minute (sliding window).'),
  tokens_per_day: limit('Token budget per UTC day.'),
  tokens_per_week: limit('Token budget per ISO week (Monday 00:00 UTC).'),
  tokens_per_term: limit('Token budget per term (see `quota.term_starts`).'),
  max_concurrent: limit('Requests of one user running at the same time.'),
  priority: z.enum(PRIORITY_CLASSES).default('standard').describe('Scheduler priority class: `interactive` before `standard` before `batch`.'),
  api_keys: z.boolean().default(false).describe('Users with this role may create their own API keys.'),
  admin: z.boolean().default(false).describe('Grants the admin API (/admin/v1) and admin CLI actions.'),
  default_model: z.string().min(1).max(200).optional().describe('Model the web UI selects for a new chat (else the first model the user may use). With several roles, the first role in alphabetical order that sets one.'),
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

const DEFAULT_AGREEMENT_EN = [
  '## Terms of use and data protection',
  '',
  'This service runs open-weight language models **on the university\'s own servers**. Nothing you type is sent to an outside company.',
  '',
  '- **What is stored:** your account (e-mail, name, roles), your chats (so you can see your history), and usage records (model, token counts, timings) under a pseudonym, not your name.',
  '- **Who can see it:** only you see your chats. Administrators see pseudonymous usage statistics, not chat contents.',
  '- **Your rights:** you can export and delete any chat, or all of them, at any time in the chat list. Chats are deleted automatically after the retention period set by the operator.',
  '- **Use responsibly:** answers can be wrong. Do not enter passwords or other people\'s personal data or confidential information you are not allowed to process here. Follow the examination rules of your course.',
  '',
  'By accepting you agree to these terms. Questions: contact the data protection officer of your institution.',
].join('\n');

const DEFAULT_AGREEMENT_DE = [
  '## Nutzungsbedingungen und Datenschutz',
  '',
  'Dieser Dienst betreibt offene Sprachmodelle **auf den eigenen Servern der Hochschule**. Nichts, was Sie eingeben, wird an ein externes Unternehmen übermittelt.',
  '',
  '- **Was gespeichert wird:** Ihr Konto (E-Mail, Name, Rollen), Ihre Chats (damit Sie Ihren Verlauf sehen) und Nutzungsdaten (Modell, Tokenzahlen, Zeiten) unter einem Pseudonym, nicht unter Ihrem Namen.',
  '- **Wer es sehen kann:** Ihre Chats sehen nur Sie. Administratoren sehen pseudonyme Nutzungsstatistiken, keine Chatinhalte.',
  '- **Ihre Rechte:** Sie können jeden Chat oder alle Chats jederzeit in der Chatliste exportieren und löschen. Chats werden nach der vom Betreiber festgelegten Aufbewahrungsfrist automatisch gelöscht.',
  '- **Verantwortungsvoll nutzen:** Antworten können falsch sein. Geben Sie keine Passwörter, keine personenbezogenen Daten anderer und keine vertraulichen Informationen ein, die Sie hier nicht verarbeiten dürfen. Beachten Sie die Prüfungsregeln Ihres Kurses.',
  '',
  'Mit der Zustimmung akzeptieren Sie diese Bedingungen. Fragen: Wenden Sie sich an die Datenschutzbeauftragte Ihrer Einrichtung.',
].join('\n');

const agreementSchema = z.object({
  version: z.string().min(1).max(64).default('2026-01').describe('Version of the agreement. Change it whenever the text changes: every user must accept the new version before using Flexi again.'),
  text: z.object({
    en: z.string().min(1).max(50_000).default(DEFAULT_AGREEMENT_EN).describe('The agreement in English (Markdown).'),
    de: z.string().min(1).max(50_000).default(DEFAULT_AGREEMENT_DE).describe('The agreement in German (Markdown).'),
  }).strict().prefault({}).describe('Agreement text per language.'),
}).strict();

export const configSchema = z.object({
  server: z.object({
    host: z.string().default('127.0.0.1').describe('Address to listen on. Use 0.0.0.0 behind an ingress.'),
    port: z.number().int().min(0).max(65535).default(8400).describe('TCP port.'),
    body_limit_bytes: z.number().int().min(1024).default(4 * 1024 * 1024).describe('Largest accepted request body; larger bodies get 413.'),
    trust_proxy: z.boolean().default(false).describe('Trust X-Forwarded-* headers from a reverse proxy.'),
    shutdown_grace_ms: durationMs('How long SIGTERM waits for in-flight requests before closing.', 10_000),
    headers_timeout_ms: durationMs('A request whose headers have not all arrived this long after it began is cut with 408 (slow-header clients). Capped at `request_timeout_ms`.', 15_000),
    request_timeout_ms: durationMs('A request whose headers and body have not all arrived this long after it began is cut with 408 (slow-body clients). Responses are not limited: a stream may run for minutes. 0: no limit.', 15_000),
    unauthenticated_requests_per_address: z.number().int().min(0).default(64).describe('Most requests from one client address in progress before they are authenticated (logins, public pages, wrong keys); more get 429 and their connection is closed. The address is `X-Forwarded-For` with `trust_proxy`. 0: no limit.'),
    hsts: z.boolean().default(false).describe('Send `Strict-Transport-Security` on every response, so browsers use only HTTPS for this host (turn on when Flexi is served over HTTPS).'),
    hsts_max_age_s: z.number().int().min(0).default(31_536_000).describe('How long browsers remember to use HTTPS only (`max-age` of `Strict-Transport-Security`, seconds; default one year).'),
  }).strict().prefault({}).describe('HTTP listener.'),
  database: z.object({
    url: z.string().default('./data/flexi.db').meta({ secret: true }).describe('A `postgres://` URL (scale-out) or a SQLite file path (default, WAL mode).'),
  }).strict().prefault({}).describe('Where users, keys and usage records live.'),
  auth: z.object({
    mode: z.enum(['keys', 'none']).default('keys').describe('`keys`: every request needs an API key or a browser session. `none`: no authentication at all (development only; a warning is printed at start).'),
    session_ttl_ms: durationMs('How long a browser session lasts after login.', 12 * 3_600_000),
    // `auto` by default: a hard `true` made sign-in over plain HTTP on a host name hang (the browser
    // drops a Secure cookie sent over http://), and env values arrive as strings, hence the enum.
    cookie_secure: z.union([z.boolean(), z.enum(['auto', 'true', 'false'])]).default('auto')
      .transform((value) => (value === 'true' ? true : value === 'false' ? false : value))
      .describe('Mark session cookies `Secure` (sent over HTTPS only). `auto`: when the request came over HTTPS, or a trusted proxy (`server.trust_proxy`) says so in X-Forwarded-Proto. `true` behind a TLS-terminating proxy that sends no X-Forwarded-Proto; `false` only for plain-HTTP development.'),
    cookie_secret: z.string().min(16).default('flexi-dev-cookie-secret-change-me').meta({ secret: true }).describe('Signs the short-lived OIDC login cookie. Set a long random value in production (a warning is printed while the default is used).'),
    login_free_attempts: z.number().int().min(1).default(5).describe('Wrong passwords per account and address before login slows down.'),
    login_backoff_ms: durationMs('First wait after the free attempts; it doubles with every further failure (at most `login_window_ms`).', 1000),
    login_window_ms: durationMs('Failures are forgotten this long after the last one.', 15 * 60_000),
    login_failures_per_address: z.number().int().min(0).default(20).describe('Failed logins from one client address, on any accounts, within `login_window_ms`, after which that address waits out the window (429 with Retry-After); stops password spraying. 0: no limit.'),
    oidc: oidcSchema.optional().describe('OpenID Connect single sign-on (Keycloak, Shibboleth OIDC front, …).'),
  }).strict().prefault({}).describe('Client authentication.'),
  roles: z.record(z.string().regex(ROLE_NAME, 'lower-case letters, digits, "_" and "-", at most 32'), rolePolicySchema)
    .prefault({})
    .transform((roles) => ({ ...Object.fromEntries(Object.entries(DEFAULT_ROLES).map(([name, role]) => [name, rolePolicySchema.parse(role)])), ...roles }))
    .describe('Roles and their policies. The defaults admin, staff, researcher, student and guest exist unless redefined here.'),
  quota: z.object({
    term_starts: z.array(z.string().regex(/^\d\d-\d\d$/, 'MM-DD')).min(1).default(['04-01', '10-01']).describe('Days (MM-DD, UTC) on which a term begins; `tokens_per_term` budgets reset then.'),
    default_max_tokens: z.number().int().min(1).default(4096).describe('Tokens reserved for a request that sets no `max_tokens` when its role has no `max_tokens_per_request`; with a token budget, also the most such a request is asked to generate (less when less of the budget is left).'),
    reservation_ttl_ms: durationMs('A reservation not settled within this time is dropped (a replica that crashed cannot hold budget forever).', 15 * 60_000),
  }).strict().prefault({}).describe('Rate limits and token budgets.'),
  redis: z.object({
    url: z.string().optional().meta({ secret: true }).describe('Redis URL (`redis://host:6379`). Set it when several Flexi replicas run: limits and budgets then hold across all of them. Unset: counters live in this process.'),
  }).strict().prefault({}).describe('Shared counters for scale-out.'),
  metrics: z.object({
    bearer_token: z.string().min(16).optional().meta({ secret: true }).describe('Secret that `GET /metrics` requires as `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials: <token> }`). Unset: no token needed.'),
    allow_from: z.array(z.string().refine(isAddressOrCidr, 'an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8')).default([])
      .describe('Client addresses (IPs or CIDR ranges) that may read `GET /metrics`; empty: any address. Behind a reverse proxy the address is the proxy\'s unless `server.trust_proxy` is on.'),
  }).strict().prefault({}).describe('Who may read the Prometheus metrics at `/metrics`. With neither key set, anyone who reaches the server may (a warning is printed at start).'),
  privacy: z.object({
    pseudonym_secret: z.string().min(16).default('flexi-dev-pseudonym-secret-change-me').meta({ secret: true }).describe('Key of the HMAC that turns user ids into the pseudonyms stored in usage records. Set a long random value; changing it breaks the link to older records.'),
    retention: z.object({
      chats: retentionDays('Days a web chat is kept after its last change; then it is deleted with its messages.', 365),
      usage_records: retentionDays('Days usage records (pseudonymous accounting: model, tokens, timings) are kept.', 365),
      audit_log: retentionDays('Days audit-log entries are kept.', 365),
      documents: retentionDays('Days an uploaded document (course material) is kept after its last change.', null),
      inactive_accounts: retentionDays('Days after the last sign-in or API-key use after which an account is erased with everything linked to it. Accounts with an admin role are kept.', 730),
      sessions: retentionDays('Days an ended browser session is kept after it expired.', 30),
    }).strict().prefault({}).describe('Retention period per data class; `flexi privacy purge` and the serving process delete what is older.'),
    purge_interval_ms: durationMs('How often the serving process deletes what is past its retention period (first run at start). 0: never; run `flexi privacy purge` from cron instead.', 3_600_000),
    internal_domains: z.array(z.string().min(1)).default([]).describe('DNS domains of the organisation (e.g. `uni-example.de`): nodes under them count as inside the organisation in the record of processing activities. Loopback and private addresses, single-label host names and `.local` always do.'),
    controller: z.string().optional().describe('Name and address of the controller, printed in the record of processing activities (`flexi privacy record`).'),
    dpo_contact: z.string().optional().describe('Contact of the data-protection officer, printed in the record of processing activities.'),
    erase_vacuum: z.enum(['plain', 'full']).default('plain').describe('PostgreSQL only: how the tables an erasure touched are vacuumed afterwards. `plain` (`VACUUM`) frees the erased rows\' space for reuse without locking, but their bytes stay in the data files until overwritten; `full` (`VACUUM FULL`) rewrites the tables so no erased byte is left in them, holding an exclusive lock on each table while it runs (docs/security.md).'),
  }).strict().prefault({}).describe('Data protection.'),
  agreement: agreementSchema.prefault({}).describe('The user agreement every browser user accepts before using Flexi (again whenever `version` changes).'),
  nodes: z.array(nodeSchema).optional().describe('Inference servers. Missing: an embedded node over `./models`, plus an Ollama at 127.0.0.1:11434 if one answers.'),
  models: z.object({
    aliases: z.record(z.string(), z.string()).default({}).describe('Extra names for models, e.g. `gpt-4o: llama3:8b` for clients with fixed model names.'),
    refresh_interval_ms: durationMs('How often the model list of every node is refreshed.', 30_000),
    descriptions: z.record(z.string(), z.string().max(200)).default({}).describe('One-line descriptions shown in the web UI\'s model picker, by model name (`llama3.1:8b: Fast general chat, German and English`). Models without one show family, size and quantisation.'),
    pull: z.object({
      allow_hosts: z.array(z.string().regex(HOST_PATTERN, 'a host name, `*.domain` or `*`')).default(['huggingface.co', '*.huggingface.co', 'hf.co', '*.hf.co'])
        .describe('Hosts `flexi models pull` and `POST /admin/v1/models/pull` may download from, also on every redirect: a host name, `*.domain` (any host under it) or `*` (any host). The default covers `hf:` sources and the storage and CDN hosts Hugging Face redirects to (`cdn-lfs*.hf.co`, `*.xethub.hf.co`).'),
      allow_networks: z.array(z.string().refine(isNetwork, 'an IP address or CIDR network such as 10.20.0.0/16')).default([])
        .describe('Networks (CIDR) a pull may reach although they are not public: loopback, private, link-local, unique-local, shared, multicast and unspecified addresses are refused unless listed here (e.g. `10.20.0.0/16` for an internal mirror). Checked on the address actually connected to, after DNS.'),
      connect_timeout_ms: z.number().int().min(100).default(10_000).describe('Longest wait for a download connection to open.'),
    }).strict().prefault({}).describe('Where model downloads may come from (docs/security.md, "Model downloads").'),
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
    format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('`json`: one JSON object per line (for log shippers); `pretty`: `time LEVEL message key=value` lines; `auto`: pretty when stdout is a terminal, else JSON.'),
  }).strict().prefault({}).describe('Logging.'),
  courses: z.object({
    default_chat_model: z.string().min(1).max(200).optional().describe('Model that answers for a course bot whose owners picked none (a bot with neither cannot answer: 400 naming `chat_model`).'),
    refusal_text: z.string().min(1).max(2000).default('Dazu finde ich im Kursmaterial nichts. / I found nothing about this in the course material. Please ask your lecturer.')
      .describe('What a strict course bot answers, without asking a model, when no passage of its material is relevant enough (a bot may set its own).'),
    top_k: z.number().int().min(1).max(20).default(5).describe('Excerpts a course bot gives its model with each question (a bot may set its own, 1–20).'),
    poll_interval_ms: durationMs('How often the serving process looks for documents waiting for ingestion (uploads by the CLI or another replica; its own uploads start at once).', 2000),
    stale_after_ms: durationMs('A document whose ingestion has shown no progress for this long (its process died) is taken over by another worker.', 10 * 60_000),
  }).strict().prefault({}).describe('Course bots (`course:<collection>` models): their defaults and the ingestion of their documents.'),
  rag: z.object({
    embedding_model: z.string().min(1).optional().describe('Model that turns course passages and questions into dense vectors (e.g. `bge-m3` or `nomic-embed-text` on an Ollama node, or a GGUF embedding model on the embedded engine); search then fuses full text and vectors. Unset: full text alone (the default).'),
    chunk_tokens: z.number().int().min(32).max(4096).default(300).describe('Size a passage grows to before the next one starts, in estimated tokens (about 1.3 per word). Chunks are cut at headings, paragraphs and list items first.'),
    chunk_overlap_tokens: z.number().int().min(0).max(1024).default(40).describe('Text repeated from the end of the previous passage of the same section, in estimated tokens (at most half of `chunk_tokens`).'),
    max_upload_bytes: z.number().int().min(1).default(50 * 1024 * 1024).describe('Largest document a course may hold, in bytes.'),
    max_pages: z.number().int().min(1).default(2000).describe('Most pages of one document (PDF pages, form-feed pages of text).'),
    min_relevance: z.number().min(0).max(1).default(0.4).describe('Strict mode: the share of a question\'s weight (IDF of its words) that the best passage must cover, else the bot refuses. Tuned on `npm run bench:rag`; lower it to refuse less, raise it to refuse more.'),
  }).strict().prefault({}).describe('Retrieval for course bots: passages, language analysis, relevance.'),
}).strict().superRefine((config, ctx) => {
  // A role's priority must be a class the scheduler knows, or its requests could never queue.
  const classes = new Set(config.scheduler.classes.map((c) => c.name));
  for (const [name, role] of Object.entries(config.roles)) {
    if (!classes.has(role.priority)) {
      ctx.addIssue({ code: 'custom', path: ['roles', name, 'priority'], message: `"${role.priority}" is not a scheduler class (scheduler.classes: ${[...classes].join(', ')})` });
    }
    // A default model the role may not use would never be picked: say so at start, not in the UI.
    const globs = role.models.map((glob) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's'));
    if (role.default_model !== undefined && !globs.some((re) => re.test(role.default_model!) || re.test(role.default_model!.replace(/:latest$/, '')))) {
      ctx.addIssue({ code: 'custom', path: ['roles', name, 'default_model'], message: `"${role.default_model}" is not among the role's models (${role.models.join(', ') || 'none'})` });
    }
  }
  refineNodes(config.nodes ?? [], ctx);
});

const EXAMPLE_URL: Record<NodeConfig['type'], string> = {
  ollama: 'http://gpu1:11434', openai: 'http://gpu1:8000/v1', sim: 'http://127.0.0.1:11500', embedded: '',
};

/** What one node alone cannot check: every node but `embedded` needs a url, names are unique. */
function refineNodes(nodes: readonly NodeConfig[], ctx: z.core.$RefinementCtx): void {
  const firstIndex = new Map<string, number>();
  nodes.forEach((node, index) => {
    if (node.type !== 'embedded' && node.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['nodes', index, 'url'], params: { missing: true }, message: `a node of type ${node.type} needs its server's base URL, e.g. url: ${EXAMPLE_URL[node.type]}` });
    }
    // Names key the scheduler's node state, metrics and remembered models: two nodes with one
    // name would silently share them.
    const earlier = firstIndex.get(node.name.toLowerCase());
    if (earlier === undefined) firstIndex.set(node.name.toLowerCase(), index);
    else ctx.addIssue({ code: 'custom', path: ['nodes', index, 'name'], message: `nodes.${earlier} already has this name; node names must be unique` });
  });
}

export type Config = z.infer<typeof configSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
export type SchedulerConfig = z.infer<typeof schedulerConfigSchema>;
