/**
 * `flexi models list|show` across every node of the config: a `flexi sim` node (Ollama protocol)
 * and an embedded folder, through the real CLI.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import type { ModelListResult } from '../../src/services/models/model-manager.service.js';
import { writeTinyLlamaGguf } from '../helpers/gguf-writer.js';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'flexi-models-cli-'));
const configPath = join(dir, 'flexi.yaml');
let sim: SimServer;

async function flexi(...args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FLEXI_CONFIG;
  const { stdout } = await promisify(execFile)(tsx, [join(root, 'src/main.ts'), ...args, '-c', configPath], { cwd: dir, env });
  return stdout;
}

beforeAll(async () => {
  sim = await startSimServer({ port: 0, profile: TINY, speed: 20, seed: 1 });
  mkdirSync(join(dir, 'models'));
  writeTinyLlamaGguf(join(dir, 'models', 'local-one.gguf'), { seed: 2, license: 'mit' });
  writeFileSync(configPath, `nodes:
  - { name: sim1, type: sim, url: "${sim.url}" }
  - { name: local, type: embedded, models_dir: ${JSON.stringify(join(dir, 'models'))} }
`);
});

afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('flexi models across nodes', () => {
  it('lists the models of the sim node and the embedded folder, as JSON and as a table', async () => {
    const [json, text] = await Promise.all([flexi('models', 'list', '--json'), flexi('models', 'list')]);
    const result = JSON.parse(json) as ModelListResult;
    expect(result.errors).toEqual([]);
    const names = result.models.map((m) => `${m.name}@${m.node}`);
    expect(names).toEqual(expect.arrayContaining(['tiny:latest@sim1', 'embed:latest@sim1', 'local-one:latest@local']));
    expect(result.models.find((m) => m.node === 'local')).toMatchObject({ family: 'llama', quantization: 'Q8_0', contextLength: 256 });
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+NODE\s+SIZE\s+PARAMS\s+QUANT\s+CONTEXT\s+FAMILY\s+LOADED$/);
    expect(lines.find((line) => line.startsWith('local-one '))).toMatch(/local\s+\S+ KB\s+120\.6K\s+Q8_0\s+256\s+llama/);
    expect(lines.some((line) => /^tiny\s+sim1\s/.test(line))).toBe(true);
  }, 180_000);

  it('shows a model from whichever node has it', async () => {
    const [fromSim, fromFolder] = await Promise.all([flexi('models', 'show', 'tiny', '--json'), flexi('models', 'show', 'local-one', '--json')]);
    expect(JSON.parse(fromSim)).toMatchObject({ name: 'tiny:latest', node: 'sim1' });
    expect(JSON.parse(fromFolder)).toMatchObject({ name: 'local-one:latest', node: 'local', license: 'mit', family: 'llama' });
  }, 180_000);
});
