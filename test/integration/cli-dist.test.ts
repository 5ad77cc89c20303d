import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer } from '../../src/lab/sim/sim-server.js';
import { builtCli, runBuiltCli, type CliResult } from '../helpers/built-cli.js';

/**
 * The first-day traps of an operator, run on the built CLI (dist/), from a folder outside the
 * checkout: what `npx flexi` runs is what is tested.
 */

/** One line on stderr, starting `flexi:`, and no stack trace. */
function expectOneLineError(result: CliResult, code: number, ...needles: string[]): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^flexi: /);
  for (const needle of needles) expect(lines[0]).toContain(needle);
}

// Every test starts one or two Node processes; on a loaded machine each can take many seconds.
describe('the built CLI (dist/)', { timeout: 120_000 }, () => {
  let dir: string;
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const flexi = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runBuiltCli(args, { cwd: dir, env: { FLEXI_DATABASE_URL: join(dir, 'flexi.db'), FLEXI_LOG_LEVEL: 'warn', ...env } });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flexi-cli-dist-'));
    builtCli();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the sim calibration against the paper data', async () => {
    const result = await flexi(['sim', '--calibration', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { rows: { model: string; concurrency: number }[] } | { model: string }[];
    expect(JSON.stringify(rows)).toContain('command-r-plus');
  });

  describe('keys create', () => {
    it('refuses an operator key without --role, naming the roles', async () => {
      expectOneLineError(await flexi(['keys', 'create', '--name', 'me']), 1, '--role', 'admin, staff, researcher, student, guest');
    });

    it('prints the role of the key it made', async () => {
      const result = await flexi(['keys', 'create', '--name', 'me', '--role', 'guest']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('role guest');
    });
  });

  describe('config and serve refuse a bad node list with the key named', () => {
    it('a node without url', async () => {
      const path = write('no-url.yaml', 'nodes:\n  - name: gpu1\n    type: ollama\n');
      for (const command of ['config', 'serve']) {
        const result = await flexi([command, '-c', path, '--port', '0'].slice(0, command === 'config' ? 3 : 5));
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain('nodes.0.url = missing');
        expect(result.stderr).not.toMatch(/^\s+at /m);
      }
    });

    it('two nodes with one name', async () => {
      const path = write('twice.yaml', 'nodes:\n  - { name: gpu1, type: sim, url: "http://127.0.0.1:1" }\n  - { name: gpu1, type: ollama, url: "http://127.0.0.1:2" }\n');
      for (const command of ['config', 'serve']) {
        const result = await flexi([command, '-c', path]);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain('nodes.1.name = "gpu1"');
        expect(result.stderr).toContain('unique');
      }
    });

    it('hints at /v1 for an openai node URL without it', async () => {
      const path = write('openai.yaml', 'nodes:\n  - { name: vllm, type: openai, url: "http://gpu1:8000" }\n');
      const result = await flexi(['config', '-c', path]);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('did you mean http://gpu1:8000/v1?');
    });
  });

  describe('serve fails in one line naming cause and fix', () => {
    let busy: Server;
    beforeAll(async () => {
      busy = createServer().listen(0, '127.0.0.1');
      await once(busy, 'listening');
    });
    afterAll(() => busy.close());

    it('when the port is in use', async () => {
      const { port } = busy.address() as { port: number };
      expectOneLineError(await flexi(['serve', '--port', String(port)], { FLEXI_NODES: '[]' }), 2, `127.0.0.1:${port} is already in use`, '--port');
    });

    it('when the database cannot be opened', async () => {
      const result = await flexi(['serve', '--port', '0'], { FLEXI_DATABASE_URL: 'postgres://flexi@127.0.0.1:1/flexi', FLEXI_NODES: '[]' });
      expectOneLineError(result, 2, 'cannot open the database', 'FLEXI_DATABASE_URL');
    });
  });

  it('serve prints each node\'s state, and no GGUF hint when nodes are configured', async () => {
    const sim = await startSimServer({ port: 0, profile: TINY });
    const nodes = [{ name: 'sim1', type: 'sim', url: sim.url }, { name: 'dead', type: 'ollama', url: 'http://127.0.0.1:1' }];
    const child = spawn(process.execPath, [builtCli(), 'serve', '--port', '0'], {
      cwd: dir, stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FLEXI_CONFIG: undefined, FLEXI_DATABASE_URL: join(dir, 'serve.db'), FLEXI_LOG_LEVEL: 'warn', FLEXI_NODES: JSON.stringify(nodes) },
    });
    let stderr = '';
    try {
      // The key hint is the last line of the start-up report.
      for await (const chunk of child.stderr) {
        stderr += String(chunk);
        if (stderr.includes('Requests need an API key')) break;
      }
      expect(stderr).toMatch(/^ {2}sim1 \(sim, http:\/\/127\.0\.0\.1:\d+\): reachable, models: .*tiny:latest/m);
      expect(stderr).toMatch(/^ {2}dead \(ollama, http:\/\/127\.0\.0\.1:1\): UNREACHABLE — .+/m);
      expect(stderr).not.toContain('.gguf');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      await sim.close();
    }
  });
});
