import { userInfo } from 'node:os';
import { loadConfigFromDisk } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FlexiError } from '../core/errors.js';
import { buildIdentityServices, type IdentityServices } from '../services/build-services.js';
import type { Identity } from '../services/identity/identity.js';
import { openDatabase, type Store } from '../store/store.js';
import { CliError } from './cli-error.js';

export interface IdentityContext {
  config: Config;
  store: Store;
  identity: Identity;
  /** Export, erasure and retention, as the server builds them. */
  privacy: IdentityServices['privacy'];
  /** Who the audit log names for CLI actions. */
  actor: string;
}

export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@]*@/i, '$1:***@');
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * Opens and migrates the configured database, builds the identity services, runs `work` and
 * always closes everything. FlexiErrors (bad input) become CliErrors with their message.
 */
export async function withIdentity<T>(configPath: string | undefined, work: (context: IdentityContext) => Promise<T>): Promise<T> {
  const config = loadConfigFromDisk({ path: configPath });
  let store: Store;
  try {
    store = await openDatabase(config.database.url);
  } catch (error) {
    throw new CliError(`Cannot open the database ${redactUrl(config.database.url)}: ${(error as Error).message}. Check database.url (FLEXI_DATABASE_URL).`);
  }
  const { identity, privacy } = buildIdentityServices(config, store);
  try {
    await store.migrate();
    return await work({ config, store, identity, privacy, actor: `cli:${osUser()}` });
  } catch (error) {
    if (error instanceof FlexiError) throw new CliError(error.message);
    throw error;
  } finally {
    await identity.close();
    await store.close();
  }
}

export function print(text: string): void {
  process.stdout.write(text);
}

export function printJson(value: unknown): void {
  print(`${JSON.stringify(value, null, 2)}\n`);
}


/** `2026-01-01T10:20:30.000Z` → `2026-01-01 10:20` (UTC), `-` for none. */
export function shortTime(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '-';
}

/** `--role a,b --role c` → [a, b, c]. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

export const CONFIG_OPTION = ['-c, --config <file>', 'config file (default: $FLEXI_CONFIG or ./flexi.yaml)'] as const;

/** Reads stdin to the end (for --password-stdin), without the final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
