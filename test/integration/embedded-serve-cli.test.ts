/**
 * The `npm start` path end to end: the real CLI (`flexi serve`) in a folder with no config file,
 * only ./models/<file>.gguf, a SQLite database and a key made by `flexi keys create`. Proves the
 * default config serves ./models through the embedded node.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LLAMA2_CHAT_TEMPLATE, writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');
const main = join(root, 'src/main.ts');

let dir: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess | undefined;
let stderr = '';

/** Resolves with the URL the serve command prints once it listens; rejects if it exits first. */
function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /Flexi is serving at (http:\/\/\S+)/.exec(stderr);
      if (match) resolveUrl(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`flexi serve exited with ${code}:\n${stderr}`)));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flexi-serve-cli-'));
  mkdirSync(join(dir, 'models'));
  writeTinyLlamaGguf(join(dir, 'models', 'tiny-chat.gguf'), { chatTemplate: LLAMA2_CHAT_TEMPLATE, seed: 5 });
  env = { ...process.env, FLEXI_DATABASE_URL: join(dir, 'flexi.db'), FLEXI_SERVER_PORT: '0', FLEXI_LOG_LEVEL: 'warn' };
  delete env.FLEXI_CONFIG;
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server!.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('flexi serve with the default config', () => {
  it('serves ./models through the embedded node to an official client with a CLI-made key', async () => {
    const created = await promisify(execFile)(tsx, [main, 'keys', 'create', '--name', 't', '--role', 'admin', '--json'], { cwd: dir, env });
    const { key } = JSON.parse(created.stdout) as { key: string };

    server = spawn(tsx, [main, 'serve'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const url = await waitForUrl(server);
    const openai = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });

    expect((await openai.models.list()).data.map((m) => m.id)).toContain('tiny-chat');
    const completion = await openai.chat.completions.create({ model: 'tiny-chat', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, temperature: 0 });
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(4);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    await expect(new OpenAI({ apiKey: 'flx-wrong', baseURL: `${url}/v1`, maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    // SIGTERM finishes gracefully with exit code 0.
    const exited = new Promise<number | null>((done) => server!.once('exit', done));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 180_000);
});
