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
  telemetry: z.object({
    url: z.url({ protocol: /^https?$/ }).optional().describe('Base URL of the `flexi agent` on this node\'s host, e.g. `http://gpu1:9400`.'),
    dcgm_url: z.url({ protocol: /^https?$/ }).optional().describe('A DCGM exporter\'s (or any Prometheus text with DCGM names) metrics URL instead, e.g. `http://gpu1:9400/metrics`.'),
  }).strict().refine((t) => (t.url === undefined) !== (t.dcgm_url === undefined), { message: 'give exactly one of url (flexi agent) and dcgm_url (DCGM exporter)' })
    .optional().describe('Where Flexi reads this node\'s GPU power, utilization and memory (docs/energy.md). Without it the node\'s requests carry no energy.'),
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

const useCaseSchema = z.object({
  quality: z.number().min(0).default(0).describe('Weight of the mean benchmark score (measured by `flexi eval`, else published).'),
  speed: z.number().min(0).default(0).describe('Weight of decode tokens/s relative to the fastest model (measured by `flexi bench`, else published).'),
  safety: z.number().min(0).default(0).describe('Weight of the `flexi probe` pass rate.'),
  german: z.number().min(0).default(0).describe('Weight of German support (1 when the model card lists German).'),
  openness: z.number().min(0).default(0).describe('Weight of openness: 1 for an OSI-approved licence, 0.5 for a model-specific one.'),
  min_tokens_per_s: z.number().min(0).default(0).describe('Models slower than this are not recommended for the use case.'),
}).strict();

const DEFAULT_USE_CASES = {
  interactive_chat: { quality: 0.4, speed: 0.4, safety: 0.2, german: 0, openness: 0, min_tokens_per_s: 15 },
  course_bot: { quality: 0.35, speed: 0.2, safety: 0.3, german: 0.15, openness: 0, min_tokens_per_s: 10 },
  api_batch: { quality: 0.6, speed: 0.3, safety: 0, german: 0, openness: 0.1, min_tokens_per_s: 0 },
  german_language: { quality: 0.3, speed: 0.2, safety: 0.1, german: 0.4, openness: 0, min_tokens_per_s: 10 },
};
const thresholds = (description: string, warn: number, crit: number) => z.object({
  warn: z.number().min(0).default(warn).describe('WARN at or above this value.'),
  crit: z.number().min(0).default(crit).describe('CRIT at or above this value.'),
}).strict().prefault({}).describe(description);

const TIME_OF_DAY = /^([01]\d|2[0-3]):[0-5]\d$/;

export const energyConfigSchema = z.object({
  price_per_kwh: z.number().min(0).default(0.30).describe('Electricity price per kWh (in `currency`) outside any tariff window.'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR').default('EUR').describe('Currency of the prices (ISO 4217).'),
  co2_g_per_kwh: z.number().min(0).default(380).describe('Grid carbon intensity, g CO2 per kWh (Germany 2023: about 380).'),
  timezone: z.string().default('UTC').refine((zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Berlin').describe('Time zone of the tariff windows.'),
  tariffs: z.array(z.object({
    from: z.string().regex(TIME_OF_DAY, 'HH:MM').describe('Start of the window, local time (`timezone`).'),
    to: z.string().regex(TIME_OF_DAY, 'HH:MM').describe('End of the window (exclusive); before `from` means it runs past midnight.'),
    price_per_kwh: z.number().min(0).describe('Price per kWh inside the window.'),
  }).strict()).default([]).describe('Time-of-day prices, e.g. `[{from: "22:00", to: "06:00", price_per_kwh: 0.22}]`; the first window that holds a time wins.'),
  idle: z.enum(['apart', 'spread']).default('apart').describe('Energy while no request ran on a node: `apart` reports it as its own line (idle); `spread` adds it to the day\'s requests in proportion to their own energy.'),
  prefill_token_weight: z.union([z.number().min(0).max(100), z.literal('auto')]).default('auto').describe('Cost of a prompt token relative to a generated one when a node\'s energy is split between its requests; `auto` measures it per model from time to first token and decode time.'),
  scrape_interval_ms: z.number().int().min(200).default(5000).describe('How often the gateway reads every node\'s telemetry.'),
  max_hold_ms: z.number().int().min(1000).default(60_000).describe('Longest a finished request\'s usage record waits for the telemetry that covers it; after that it is written with the energy known so far.'),
  checkmk: z.object({
    gpu_temperature_celsius: thresholds('GPU temperature, °C.', 83, 90),
    gpu_power_ratio: thresholds('GPU power draw as a share of its power limit.', 0.95, 1.0),
    gpu_memory_ratio: thresholds('GPU memory in use as a share of the total.', 0.95, 0.99),
    queue_wait_p95_s: thresholds('95th percentile of a model\'s queue wait over `window_ms`, seconds.', 10, 30),
    error_ratio: thresholds('Share of a model\'s requests that failed over `window_ms`.', 0.05, 0.2),
    window_ms: z.number().int().min(1000).default(300_000).describe('Window of the usage records that queue wait and error ratio are computed over.'),
  }).strict().prefault({}).describe('Thresholds of `flexi checkmk` (docs/energy.md).'),
}).strict().prefault({}).describe('Energy accounting: price, carbon intensity, how idle energy is reported, Checkmk thresholds.');

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
    key_prefix: z.string().min(1).max(64).default('flexi:').describe('Prefix of every key (and pub/sub channel) Flexi writes to Redis, so several deployments can share one server.'),
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
    encrypt_chats: z.boolean().default(false).describe('Encrypt the titles and messages of new web chats at rest (AES-256-GCM) with a per-user key that only the user\'s password (or the session it unlocked, or the user\'s recovery key) opens: an administrator with the database cannot read them, and a forgotten password loses them unless the user saved a recovery key (docs/privacy.md). Chats written before stay as they are.'),
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
  cluster: z.object({
    shared_slots: z.boolean().default(true).describe('With `redis.url` set, every node\'s concurrency limit is one budget shared by all gateway replicas: a request starts only in a slot its replica took in Redis, so a node never sees more requests at once than its limit, however many replicas run. `false`: each replica counts only its own requests (one replica with Redis for rate limits only). Without Redis nothing is shared and no Redis round trip is made.'),
    slot_lease_ttl_ms: z.number().int().min(1000).default(10_000).describe('A shared slot not refreshed for this long is free again: the time in which the slots of a replica that died come back. Refreshed every third of it while its request runs.'),
    slot_poll_ms: z.number().int().min(5).max(5000).default(50).describe('How often a replica whose requests wait for a shared slot asks Redis again (a slot freed by another replica is found at most this much later).'),
    leader_lock_ttl_ms: z.number().int().min(1000).default(10_000).describe('Background jobs that must run once (retention purge, roster sync, writing the nodes\' model lists) run on the replica holding a lock: in Redis, where a replica that dies hands the lock over within this time; without Redis but with PostgreSQL an advisory lock, freed when the holder\'s connection closes and asked for every third of this time. With SQLite the lock is local.'),
    usage_before_reply: z.boolean().default(false).describe('A reply ends only once its usage record is written to the database (requests finishing together share one write), so a replica killed without warning (SIGKILL, OOM) loses no record of a request its client saw finish. Costs one database write of latency at the end of each reply; off, records are written every `usage.flush_interval_ms` and a killed replica loses those of its last interval (SIGTERM always writes them).'),
    shutdown_delay_ms: z.number().int().min(0).max(600_000).default(0).describe('After SIGTERM, keep serving this long before closing the listener, so requests the ingress routed here just before it learned of the shutdown still find an open door (Kubernetes removes a terminating pod\'s endpoint asynchronously; a few seconds is usual there). Then `server.shutdown_grace_ms` applies. 0: close at once.'),
    queue_notice_delay_ms: z.number().int().min(0).max(600_000).default(0).describe('A streamed request that waits for a slot gets its first queue notice (`: queued position=…` SSE comment, which sends the response headers) only after waiting this long. Until then nothing has been sent, so if its replica dies an ingress that retries failed connections can send it to another replica. 0: at once (the web UI shows the position sooner). Keep it below the ingress\'s idle time-out.'),
    replica_id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64').optional().describe('Name of this replica in shared slots and leader locks (default: host name, process id and a random suffix).'),
  }).strict().prefault({}).describe('Several gateway replicas sharing the nodes (shared slot budget, leader election); see docs/operations.md.'),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('`json`: one JSON object per line (for log shippers); `pretty`: `time LEVEL message key=value` lines; `auto`: pretty when stdout is a terminal, else JSON.'),
  }).strict().prefault({}).describe('Logging.'),
  catalog: z.object({
    results_dir: z.string().default('./data/evidence').describe('Folder where `flexi eval`, `flexi probe` (and `flexi bench --save`, `flexi loadtest --out` when pointed there) store results; `flexi models catalog` and the admin catalog page read it.'),
    use_cases: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, "_" and "-"'), useCaseSchema).default(DEFAULT_USE_CASES)
      .describe('Use cases the catalog recommends models for, each with weights of its factors (quality, speed, safety, german, openness; normalised to 0–1 and averaged by weight) and a minimum decode rate.'),
  }).strict().prefault({}).describe('Model catalog (`flexi models catalog`): where stored evidence lives and how recommendations weigh it.'),
  energy: energyConfigSchema,
  chat: z.object({
    max_image_bytes: z.number().int().min(1024).default(4 * 1024 * 1024).describe('Largest image (decoded bytes) a chat message may carry; larger ones get 400. A request must also fit `server.body_limit_bytes` (base64 adds a third). The web UI downscales images before sending.'),
    max_images_per_request: z.number().int().min(0).default(8).describe('Most images in one request, over all its messages. 0 refuses every image.'),
    fetch_image_urls: z.boolean().default(false).describe('Fetch `http(s)` image URLs in OpenAI `image_url` parts from the gateway (public addresses only, as model pulls; `models.pull.allow_networks` opens internal ones). Off: only `data:` URLs are taken and a URL gets 400 (nothing is fetched).'),
    vision_models: z.array(z.string().min(1).max(200)).default([]).describe('Models that take images although their node does not say so (OpenAI-compatible servers such as vLLM list no capabilities), as glob patterns (`llava*`, `*-vl*`). Ollama and sim nodes report vision themselves.'),
    answer_timeout_ms: durationMs('Longest a web-UI answer may run on the server after the browser is gone (tab closed, network down) before it is stopped and stored as it is.', 15 * 60_000),
  }).strict().prefault({}).describe('Web chat and images sent to vision models.'),
  lti: z.object({
    tool_url: z.url({ protocol: /^https?$/ }).optional().describe('Public base URL of Flexi as LMS platforms and browsers reach it (`https://flexi.uni-example.de`): the launch, JWKS and login URLs given to platforms start with it. Unset: the origin of each request (honours `server.trust_proxy`).'),
    tool_name: z.string().min(1).max(100).default('Flexi').describe('Name the tool gives itself in LTI Dynamic Registration (what Moodle lists).'),
    key_secret: z.string().min(16).optional().meta({ secret: true }).describe('Key that encrypts the tool\'s private signing keys in the database (AES-256-GCM). Unset: derived from `auth.cookie_secret`; changing the secret makes stored keys unreadable, run `flexi lti keys rotate` after.'),
    key_overlap_ms: durationMs('How long a rotated-out tool key is still published at /lti/jwks, so platforms that cached the old key set keep verifying the tool\'s messages.', 7 * 86_400_000),
    state_ttl_ms: durationMs('How long a login (from /lti/login to the launch) may take.', 10 * 60_000),
    clock_skew_ms: durationMs('Clock difference between a platform and Flexi tolerated on `exp` and `iat` of an id_token.', 60_000),
    max_token_age_ms: durationMs('Oldest id_token accepted, by its `iat`.', 10 * 60_000),
    jwks_cache_ms: durationMs('How long a platform\'s key set (JWKS) is cached; an id_token signed with an unknown `kid` refetches it earlier.', 10 * 60_000),
    jwks_cooldown_ms: z.number().int().min(0).default(30_000).describe('Least time between two fetches of one platform\'s key set, so tokens with made-up `kid`s cannot make Flexi hammer the platform.'),
    fetch_timeout_ms: durationMs('Longest wait for a platform endpoint (key set, token, roster, registration).', 10_000),
    learner_roles: z.array(z.string()).default(['student']).describe('Flexi roles a platform user gets at their first launch as a learner (added, never removed, at later launches).'),
    instructor_roles: z.array(z.string()).default(['staff']).describe('Flexi roles of a platform user who launches as Instructor or Administrator of a course (or as an institution/system administrator).'),
    institution_roles: z.record(z.string().regex(/^[A-Za-z]{1,64}$/, 'an LIS institution role name such as Faculty, Staff, Student'), z.array(z.string()))
      .default({}).describe('Flexi roles added for LIS institution roles a platform sends (`http://purl.imsglobal.org/vocab/lis/v2/institution/person#<name>`), by name: `{ Faculty: [staff], Student: [student] }`. Added to the learner/instructor roles, never removed by a launch.'),
    default_model: z.string().min(1).max(200).optional().describe('Model a resource-link launch preselects in the chat when the link names none (custom parameter `model`, set by deep linking).'),
    roster_sync_interval_ms: z.number().int().min(0).default(6 * 3_600_000).describe('How often the serving process syncs the roster of every course that launched with Names and Role Provisioning (members who left lose access). 0: only `flexi lti sync`.'),
    allow_http: z.boolean().default(false).describe('Accept `http://` platform URLs (tests and development only; LTI needs HTTPS, since its cookies are `Secure`).'),
  }).strict().prefault({}).describe('LTI 1.3 tool: Moodle and other platforms launch Flexi inside a course (docs/lti.md).'),
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
  // A launch would silently give LTI users no role: say so at start instead.
  const mapped: [PropertyKey[], readonly string[]][] = [
    [['lti', 'learner_roles'], config.lti.learner_roles], [['lti', 'instructor_roles'], config.lti.instructor_roles],
    ...Object.entries(config.lti.institution_roles).map(([name, roles]): [PropertyKey[], readonly string[]] => [['lti', 'institution_roles', name], roles]),
  ];
  for (const [path, roles] of mapped) {
    roles.forEach((role, index) => {
      if (!(role in config.roles)) ctx.addIssue({ code: 'custom', path: [...path, index], message: `"${role}" is not a role (roles: ${Object.keys(config.roles).join(', ')})` });
    });
  }
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
export type EnergyConfig = z.infer<typeof energyConfigSchema>;
