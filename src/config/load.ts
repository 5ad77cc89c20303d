import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { withDeploymentSecrets } from './secrets.js';

/** Thrown for any invalid configuration; the message names the key, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  /** Text of flexi.yaml (empty or missing is valid). */
  fileText?: string;
  /** Path the text came from, for messages. */
  filePath?: string;
  /** Environment (FLEXI_* variables are read). */
  env?: Record<string, string | undefined>;
  /** Highest precedence, e.g. CLI flags (`server.port` from `--port`). Keys are dotted paths. */
  overrides?: Record<string, unknown>;
}

interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  secret?: boolean;
  anyOf?: JsonSchemaNode[];
  minimum?: number;
  maximum?: number;
  format?: string;
  additionalProperties?: JsonSchemaNode | boolean;
}

/** One configuration key as the docs and the env mapping see it. */
export interface ConfigKey {
  path: string[];
  envName: string;
  schema: JsonSchemaNode;
}

let cachedJsonSchema: JsonSchemaNode | undefined;
export function configJsonSchema(): JsonSchemaNode {
  cachedJsonSchema ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return cachedJsonSchema;
}

export function envNameFor(path: readonly string[]): string {
  return `FLEXI_${path.join('_').toUpperCase()}`;
}

/** Every leaf key of the schema (objects with declared properties are walked, not leaves). */
export function listConfigKeys(): ConfigKey[] {
  const keys: ConfigKey[] = [];
  const walk = (node: JsonSchemaNode, path: string[]) => {
    if (node.properties && node.type === 'object') {
      for (const [name, child] of Object.entries(node.properties)) walk(child, [...path, name]);
      return;
    }
    keys.push({ path, envName: envNameFor(path), schema: node });
  };
  walk(configJsonSchema(), []);
  return keys;
}

function leafType(schema: JsonSchemaNode): string {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null') ?? 'string';
  if (schema.type) return schema.type;
  if (schema.enum) return 'string';
  return 'string';
}

function parseEnvValue(key: ConfigKey, raw: string): unknown {
  const type = leafType(key.schema);
  switch (type) {
    case 'integer':
    case 'number': {
      const value = Number(raw);
      if (raw.trim() === '' || Number.isNaN(value)) {
        throw new ConfigError(`${key.envName}="${raw}" is not a number (sets ${key.path.join('.')}).`);
      }
      return value;
    }
    case 'boolean': {
      const lowered = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
      if (['false', '0', 'no', 'off'].includes(lowered)) return false;
      throw new ConfigError(`${key.envName}="${raw}" is not a boolean; use true or false (sets ${key.path.join('.')}).`);
    }
    case 'array':
    case 'object':
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw new ConfigError(`${key.envName} must be JSON (sets ${key.path.join('.')}), got: ${raw.slice(0, 80)}`);
      }
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(source: unknown, path: readonly (string | number)[]): unknown {
  let node = source;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

function describeAllowed(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `allowed: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown key(s): ${issue.keys.join(', ')}`;
    default:
      return issue.message;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

/** Pure: builds the effective, frozen configuration from file text, environment and overrides. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const origin = new Map<string, string>();
  let raw: Record<string, unknown> = {};
  if (sources.fileText && sources.fileText.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = parseYaml(sources.fileText);
    } catch (error) {
      throw new ConfigError(`${sources.filePath ?? 'config'} is not valid YAML: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`${sources.filePath ?? 'config'} must be a YAML mapping of keys (server:, nodes:, …).`);
      }
      raw = parsed as Record<string, unknown>;
    }
  }
  for (const key of listConfigKeys()) {
    const value = sources.env?.[key.envName];
    if (value === undefined) continue;
    setPath(raw, key.path, parseEnvValue(key, value));
    origin.set(key.path.join('.'), key.envName);
  }
  for (const [dotted, value] of Object.entries(sources.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, dotted.split('.'), value);
    origin.set(dotted, 'command line');
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      const dotted = path.join('.') || '(root)';
      const value = getPath(raw, issue.path as (string | number)[]);
      const from = [...origin.entries()].find(([p]) => dotted === p || dotted.startsWith(`${p}.`))?.[1]
        ?? sources.filePath ?? 'config';
      const missing = issue.code !== 'custom' || (issue.params as { missing?: boolean } | undefined)?.missing === true;
      const shown = value === undefined ? (missing ? 'missing' : '(default)') : JSON.stringify(value);
      return `  ${dotted} = ${shown} (from ${from}): ${describeAllowed(issue)}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

type DiskOptions = { path?: string; env?: Record<string, string | undefined>; overrides?: Record<string, unknown> };

/** Reads the file named by --config or FLEXI_CONFIG (default ./flexi.yaml if it exists). */
export function loadConfigFromDisk(options: DiskOptions = {}): Config & { readonly sourcePath?: string } {
  // The server and every CLI command must use the same per-deployment secrets (pseudonyms of
  // usage records, cookies), so they are resolved here, where both read the configuration.
  return withDeploymentSecrets(readConfigFromDisk(options)).config;
}

/**
 * The same file and environment without resolving per-deployment secrets, so nothing is written
 * beside a database: for client tools that only read a setting (`flexi eval`/`probe`: `catalog.results_dir`).
 */
export function readConfigFromDisk(options: DiskOptions = {}): Config {
  const env = options.env ?? process.env;
  const explicit = options.path ?? env.FLEXI_CONFIG;
  const path = explicit ?? './flexi.yaml';
  let fileText: string | undefined;
  try {
    fileText = readFileSync(path, 'utf8');
  } catch (error) {
    if (explicit) throw new ConfigError(`Cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return loadConfig({ fileText, filePath: path, env, overrides: options.overrides });
}

/** The configuration with secrets replaced, for `flexi config` and logs. */
export function redactConfig(config: Config): unknown {
  const secretPaths = new Set(listConfigKeys().filter((k) => k.schema.secret).map((k) => k.path.join('.')));
  const redactUrl = (value: string) => value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@]*@/i, '$1:***@');
  const walk = (value: unknown, path: string[]): unknown => {
    if (Array.isArray(value)) {
      // Items of arrays share one schema; their secret keys are marked on the item schema.
      return value.map((item) => walkItem(item, path));
    }
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    if (typeof value === 'string' && secretPaths.has(path.join('.'))) return path.at(-1) === 'url' ? redactUrl(value) : '***';
    return value;
  };
  const walkItem = (item: unknown, path: string[]): unknown => {
    if (item && typeof item === 'object') {
      const itemSchema = getPath(configJsonSchema(), [...path.flatMap((p) => ['properties', p]), 'items']) as JsonSchemaNode | undefined;
      return Object.fromEntries(Object.entries(item).map(([k, v]) =>
        [k, itemSchema?.properties?.[k]?.secret && typeof v === 'string' ? '***' : v]));
    }
    return item;
  };
  return walk(config, []);
}
