/**
 * Generates docs/configuration.md (from the config schema), docs/errors.md (from the error
 * catalog) and docs/record-of-processing.md (the record for the default configuration).
 * `npm run docs` rewrites them; a test fails when one is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { listConfigKeys, loadConfig } from '../config/load.js';
import { ERROR_CATALOG } from '../core/errors.js';
import { renderProcessingRecord } from '../services/privacy/processing-record.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function typeOf(schema: ReturnType<typeof listConfigKeys>[number]['schema']): string {
  if (schema.enum) return schema.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (schema.anyOf) return schema.anyOf.map((s) => s.type ?? 'value').join(' \\| ');
  const type = Array.isArray(schema.type) ? schema.type.join(' \\| ') : schema.type ?? 'value';
  const range = [schema.minimum !== undefined ? `≥ ${schema.minimum}` : '', schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${schema.maximum}` : ''].filter(Boolean).join(', ');
  return range ? `${type} (${range})` : type;
}

export function renderConfigurationDoc(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'Flexi reads `flexi.yaml` (or the file named by `--config` / `FLEXI_CONFIG`). An empty or missing file is valid:',
    'every key has a default. Every key can be overridden by an environment variable named after its path',
    '(`server.port` → `FLEXI_SERVER_PORT`); lists and maps take JSON. Command-line flags win over both.',
    'An invalid value stops start-up with a message naming the key, the value and what is allowed.',
    '`flexi config` prints the effective configuration with secrets redacted.',
    '',
    '| key | environment variable | type | default | description |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const key of listConfigKeys()) {
    const def = key.schema.default === undefined ? '' : `\`${JSON.stringify(key.schema.default)}\``;
    const secret = key.schema.secret ? ' *(secret: redacted by `flexi config`)*' : '';
    lines.push(`| \`${key.path.join('.')}\` | \`${key.envName}\` | ${typeOf(key.schema)} | ${def} | ${cell(key.schema.description ?? '')}${secret} |`);
  }
  const node = listConfigKeys().find((k) => k.path.join('.') === 'nodes');
  const item = node?.schema.items?.properties;
  if (item) {
    lines.push('', '## A node (`nodes[]`)', '', '| key | type | description |', '| --- | --- | --- |');
    for (const [name, schema] of Object.entries(item)) {
      lines.push(`| \`${name}\` | ${typeOf({ path: [], envName: '', schema }.schema)} | ${cell(schema.description ?? '')} |`);
    }
  }
  lines.push('', '## Example', '', '```yaml', 'server:', '  host: 0.0.0.0', '  port: 8400', 'database:', '  url: postgres://flexi:secret@db:5432/flexi',
    'nodes:', '  - { name: gpu1, type: ollama, url: "http://gpu1:11434", slots: 4 }', '  - { name: gpu2, type: openai, url: "http://gpu2:8000/v1" }',
    '  - { name: local, type: embedded, models_dir: ./models }', 'models:', '  aliases:', '    gpt-4o: llama3:8b', '```', '');
  return lines.join('\n');
}

export function renderErrorsDoc(): string {
  const lines = [
    '# Errors',
    '',
    '<!-- Generated from src/core/errors.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'Every error has a stable code. On `/v1` the body is OpenAI\'s shape',
    '`{"error": {"message", "type", "param", "code"}}`; on `/api` it is Ollama\'s `{"error": "message"}`.',
    'Every response carries `x-request-id`; a 500 logs its details under that id and never sends them to the client.',
    'Errors before the first streamed byte get the status below; after it, the stream carries one in-band error',
    'frame (`data: {"error": …}` for SSE, `{"error": "…"}` for NDJSON) and ends without `[DONE]`.',
    '',
    '| code | status | OpenAI type | retry | when, and what to do |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
    lines.push(`| \`${code}\` | ${spec.status} | \`${spec.openaiType}\` | ${spec.retryable ? 'yes' : 'no'} | ${cell(spec.description)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

export const DOCS = {
  'docs/configuration.md': renderConfigurationDoc,
  'docs/errors.md': renderErrorsDoc,
  'docs/record-of-processing.md': () => renderProcessingRecord(loadConfig({})),
} as const;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  for (const [path, render] of Object.entries(DOCS)) {
    writeFileSync(`${root}${path}`, render());
    process.stdout.write(`wrote ${path}\n`);
  }
}
