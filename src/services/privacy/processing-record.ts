import type { Config } from '../../config/schema.js';
import { PERSONAL_DATA_CLASSES, type PersonalDataClass, type RetentionClass } from './data-classes.js';
import { isInternalHost, locateNode } from './node-location.js';

const FILL_IN = '_to be filled in_';

export interface ProcessingRecordOptions {
  /** Printed as the date of the record; omitted in the docs example so it stays stable. */
  generatedAt?: string;
  classes?: readonly PersonalDataClass[];
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function days(config: Config, retention: RetentionClass | undefined): string {
  if (!retention) return 'while the account exists';
  const value = config.privacy.retention[retention];
  return value ? `${value} days (\`privacy.retention.${retention}\`)` : `kept until deleted (\`privacy.retention.${retention}\` not set)`;
}

/** Host of a URL without credentials; undefined when it does not parse. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

function recipients(config: Config): string[] {
  const domains = config.privacy.internal_domains;
  const lines = ['## 5. Recipients', '', 'Inference nodes receive the prompts and produce the answers. Flexi sends them no user identity (no user id, e-mail, pseudonym or address).', ''];
  if (!config.nodes || config.nodes.length === 0) {
    lines.push('No nodes are configured: Flexi serves models with the engine embedded in its own process and with an Ollama on the same machine (`127.0.0.1:11434`) if one answers. Both are inside the organisation.', '');
  } else {
    const located = config.nodes.map((n) => locateNode(n, domains));
    lines.push(...table(['node', 'type', 'host', 'inside the organisation'], located.map((n) => [
      `\`${n.name}\``, n.type, n.host ?? 'this process', n.internal ? 'yes' : `**NO: recipient outside the organisation**${n.plainHttp ? ', unencrypted (http)' : ''}`,
    ])), '');
    const external = located.filter((n) => !n.internal);
    if (external.length > 0) {
      lines.push(`**${external.length} node(s) outside the organisation** (${external.map((n) => `\`${n.name}\``).join(', ')}): prompts and answers of requests routed there are disclosed to their operator. A data-processing agreement (Art. 28 GDPR) and, outside the EU/EEA, a transfer basis (Art. 44 ff.) are needed, or restrict these nodes to models nobody sends personal data to. If a host is in fact internal, add its domain to \`privacy.internal_domains\`.`, '');
    }
  }
  const others: string[][] = [];
  const oidcHost = config.auth.oidc && hostOf(config.auth.oidc.issuer);
  if (oidcHost) others.push(['identity provider (single sign-on)', oidcHost, isInternalHost(oidcHost, domains) ? 'yes' : '**no**', 'source of e-mail, name and group claims at sign-in']);
  const dbHost = /^postgres(ql)?:/i.test(config.database.url) ? hostOf(config.database.url) : undefined;
  others.push(dbHost
    ? ['database (PostgreSQL)', dbHost, isInternalHost(dbHost, domains) ? 'yes' : '**no**', 'holds all stored data']
    : ['database (SQLite file on the Flexi host)', 'local', 'yes', 'holds all stored data']);
  const redisHost = config.redis.url && hostOf(config.redis.url);
  if (redisHost) others.push(['Redis (shared counters)', redisHost, isInternalHost(redisHost, domains) ? 'yes' : '**no**', 'rate and budget counters keyed by pseudonym; hashed login-failure counters']);
  lines.push('Other systems Flexi exchanges personal data with:', '', ...table(['system', 'host', 'inside the organisation', 'what'], others), '');
  return lines;
}

function measures(config: Config): string[] {
  const devSecret = config.privacy.pseudonym_secret.startsWith('flexi-dev-');
  const adminRoles = Object.entries(config.roles).filter(([, r]) => r.admin).map(([n]) => n);
  const interval = config.privacy.purge_interval_ms;
  const items = [
    `Pseudonymisation: usage records name users only by an HMAC-SHA256 of the user id under \`privacy.pseudonym_secret\`${devSecret ? ' — **the development default secret is in use: set a random one**' : ' (a deployment-specific secret is set)'}.`,
    'Data minimisation: API traffic stores no prompt or answer text; no IP address is stored (login throttling keeps a short-lived hash of e-mail and address in the counter store).',
    config.auth.mode === 'keys'
      ? 'Access control: every API request needs an API key or a browser session; roles decide models, limits and admin rights.'
      : '**Access control is off (`auth.mode: none`): anyone who reaches the server can use it.**',
    `Administrators: roles ${adminRoles.map((r) => `\`${r}\``).join(', ') || '(none)'}; every admin action, export and erasure is written to the audit log.`,
    'Credentials: passwords hashed with argon2id; API keys and session cookies stored only as SHA-256 hashes.',
    `Sessions: httpOnly, SameSite=Lax cookies${config.auth.cookie_secure === true ? ', Secure (HTTPS only)' : config.auth.cookie_secure === 'auto' ? ', Secure whenever the request came over HTTPS (`auth.cookie_secure: auto`)' : ' — **not marked Secure (`auth.cookie_secure: false`)**'}; CSRF token on every change; login throttling after ${config.auth.login_free_attempts} failures.`,
    'Chats: no API lets an operator or admin read another user\'s chats; what database access reveals is documented in docs/privacy.md.',
    interval > 0
      ? `Storage limitation: the server deletes data past its retention period every ${Math.round(interval / 60_000)} minutes; \`flexi privacy purge\` does it by hand.`
      : 'Storage limitation: the in-process purge is off (`privacy.purge_interval_ms: 0`); **schedule `flexi privacy purge`**.',
    'Rights of the user: self-service export (`GET /ui/v1/me/export`) and erasure (`DELETE /ui/v1/me`); admins: `flexi privacy export|erase --user`.',
    'Inference nodes receive no user identity.',
    `Encryption at rest (disks of the database and node hosts): ${FILL_IN}.`,
    `Encryption in transit between clients, Flexi and nodes (TLS termination, internal network): ${FILL_IN}.`,
    `Backups (where, how long, who can restore; erased data leaves backups only when they expire): ${FILL_IN}.`,
    `Physical and organisational measures (server rooms, admin accounts, training): ${FILL_IN}.`,
  ];
  return ['## 8. Technical and organisational measures (Art. 32 GDPR)', '', ...items.map((i) => `- ${i}`), ''];
}

/**
 * The record of processing activities (Art. 30 GDPR) generated from the configuration and the
 * registry of personal-data classes. Fields only the organisation can answer are marked.
 */
export function renderProcessingRecord(config: Config, options: ProcessingRecordOptions = {}): string {
  const classes = options.classes ?? PERSONAL_DATA_CLASSES;
  const lines = [
    '# Record of processing activities: Flexi',
    '',
    '<!-- Generated by `flexi privacy record` from the configuration. docs/record-of-processing.md is the example for the default configuration (`npm run docs`). -->',
    '',
    `Generated from the running configuration${options.generatedAt ? ` on ${options.generatedAt}` : ''}. Fields marked ${FILL_IN} need the organisation's answer.`,
    '',
    '## 1. Controller',
    '',
    ...table(['', ''], [
      ['Controller', config.privacy.controller ?? FILL_IN],
      ['Data-protection officer', config.privacy.dpo_contact ?? FILL_IN],
      ['Processing activity', 'Flexi: access to large language models run on the organisation\'s own servers (chat in the browser, API for programs and learning platforms)'],
    ]),
    '',
    '## 2. Purposes and legal basis',
    '',
    ...table(['purpose', 'legal basis'], [
      ...[...new Set(classes.map((c) => c.purpose))].map((p) => [p, FILL_IN]),
      ['answer prompts with a language model (the prompts themselves are not stored for API traffic)', FILL_IN],
    ]),
    '',
    '## 3. Data subjects',
    '',
    'People with an account, by role:',
    '',
    ...table(['role', 'description'], Object.entries(config.roles).map(([name, r]) => [`\`${name}\``, r.description ?? ''])),
    '',
    '## 4. Categories of personal data',
    '',
    ...table(['category', 'data', 'stored in', 'who can read it', 'retention'], classes.map((c) => [c.category, c.data, `\`${c.table}\`${c.optional ? ' *' : ''}`, c.access, days(config, c.retention)])),
    '',
    `${classes.some((c) => c.optional) ? '\\* exists only where its feature is installed. ' : ''}Not stored: prompts and answers of API requests, IP addresses. Questions to a course bot are requests like any other: stored only as web chats when asked in the web UI.`,
    '',
    ...recipients(config),
    '## 6. Transfers to third countries',
    '',
    (config.nodes ?? []).some((n) => !locateNode(n, config.privacy.internal_domains).internal)
      ? `Possible: see the nodes outside the organisation in section 5. ${FILL_IN}.`
      : 'None: all recipients are inside the organisation.',
    '',
    '## 7. Retention periods',
    '',
    ...table(['class', 'period', 'what happens'], [
      ['chats', days(config, 'chats'), 'the chat and its messages are deleted after its last change'],
      ['usage records', days(config, 'usage_records'), 'deleted'],
      ['audit log', days(config, 'audit_log'), 'deleted'],
      ['uploaded documents', days(config, 'documents'), 'the file and its passages are deleted after the document\'s last change; erasing the uploader keeps the course\'s material and removes only the link to them'],
      ['inactive accounts', days(config, 'inactive_accounts'), 'after the last sign-in or API-key use the account is erased with everything linked to it (admin accounts are kept)'],
      ['ended sessions', days(config, 'sessions'), 'deleted after expiry'],
    ]),
    '',
    ...measures(config),
  ];
  return `${lines.join('\n')}\n`;
}
