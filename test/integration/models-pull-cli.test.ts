/**
 * `flexi models pull` from the built CLI (dist/: `npx tsc -p tsconfig.build.json`) against the
 * download rules of issue 12: loopback refused by default, allowed once the operator lists it,
 * and a bad `--file-name` refused before any download.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const root = resolve(import.meta.dirname, '../..');
const cli = join(root, 'dist/main.js');
const dir = mkdtempSync(join(tmpdir(), 'flexi-pull-cli-'));
const requests: string[] = [];
let files: Server;
let source: string;

/** Runs the built CLI with `config`; resolves with the exit code and output (it does not throw on failure). */
function flexi(config: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const configPath = join(dir, `flexi-${requests.length}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(configPath, config);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FLEXI_CONFIG;
  return new Promise((done) => {
    execFile(process.execPath, [cli, ...args, '-c', configPath], { cwd: dir, env }, (error, stdout, stderr) => {
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const nodes = (): string => `nodes:\n  - { name: local, type: embedded, models_dir: ${JSON.stringify(join(dir, 'models'))} }\n`;

beforeAll(async () => {
  if (!existsSync(cli)) throw new Error('dist/main.js is missing: run `npx tsc -p tsconfig.build.json` first');
  mkdirSync(join(dir, 'models'));
  writeTinyLlamaGguf(join(dir, 'source.gguf'), { embd: 32, ff: 64, layers: 1, heads: 2 });
  const model = readFileSync(join(dir, 'source.gguf'));
  files = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-length': model.length }).end(model);
  });
  await new Promise<void>((done) => files.listen(0, '127.0.0.1', done));
  source = `http://127.0.0.1:${(files.address() as AddressInfo).port}/m/tiny.gguf`;
});

afterAll(async () => {
  await new Promise((done) => files?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

describe('flexi models pull (built CLI): where downloads may go', () => {
  it('refuses a loopback source under the default rules without sending it anything', async () => {
    const result = await flexi(`${nodes()}models:\n  pull:\n    allow_hosts: ["*"]\n`, 'models', 'pull', source);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('127.0.0.1 is a loopback address');
    expect(requests).toEqual([]);
  }, 180_000);

  it('refuses a file name with a control character or a path before downloading (argv cannot carry a NUL)', async () => {
    const config = `${nodes()}models:\n  pull:\n    allow_hosts: ["127.0.0.1"]\n    allow_networks: ["127.0.0.1/32"]\n`;
    for (const fileName of ['bad\u0001.gguf', '../up.gguf']) {
      const result = await flexi(config, 'models', 'pull', source, '--file-name', fileName);
      expect({ fileName, code: result.code, stderr: result.stderr }).toMatchObject({ fileName, code: 1, stderr: expect.stringContaining('file_name: the file name') });
    }
    expect(requests).toEqual([]);
  }, 180_000);

  it('pulls from loopback once the operator allows the host and its network', async () => {
    const config = `${nodes()}models:\n  pull:\n    allow_hosts: ["127.0.0.1"]\n    allow_networks: ["127.0.0.1/32"]\n`;
    const result = await flexi(config, 'models', 'pull', source, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'tiny:latest' });
    expect(requests).toEqual(['/m/tiny.gguf']);
  }, 180_000);
});
