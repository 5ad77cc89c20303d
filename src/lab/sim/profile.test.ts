import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPaperAppendixA, loadPaperTable3, loadPaperTable4, parseCsv } from '../data/paper.js';
import { loadSimProfileFile, parseSimProfile } from './profile.js';
import { PAPER_SERVER_B } from './profiles.js';
import { parseKeepAliveMs } from './sim-http.js';

describe('profiles', () => {
  it('loads a snake_case YAML profile, canonicalises names and fills defaults', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-profile-'));
    const path = join(dir, 'node.yaml');
    await writeFile(path, 'name: lab\nmemory_gb: 24\nmodels:\n  - name: qwen\n    size_gb: 5\n    decode_tokens_per_second: 40\n    output_tokens: { mean: 200 }\n');
    const profile = await loadSimProfileFile(path);
    expect(profile.models[0]).toMatchObject({ name: 'qwen:latest', sizeGb: 5, slots: 4, outputTokens: { mean: 200, spread: 0.3 } });
    expect(profile.maxLoadQueue).toBe(512);
  });

  it('names the bad field when a profile is invalid', () => {
    expect(() => parseSimProfile({ name: 'x', memoryGb: 1, models: [{ name: 'a', sizeGb: 1, outputTokens: { mean: 1 } }] }, 'p.json'))
      .toThrow(/p\.json: models\.0\.decodeTokensPerSecond/);
  });

  it('ships server B with the paper\'s eight models, Table 4 rates and Table 3 sizes', () => {
    const table4 = loadPaperTable4();
    const table3 = loadPaperTable3();
    expect(PAPER_SERVER_B.memoryGb).toBe(92);
    expect(PAPER_SERVER_B.models.map((m) => m.name).sort()).toEqual(table4.map((r) => `${r.model}:latest`).sort());
    for (const model of PAPER_SERVER_B.models) {
      const short = model.name.replace(':latest', '');
      expect(model.decodeTokensPerSecond).toBe(table4.find((r) => r.model === short)!.tokensPerSecond);
      const row = table3.find((r) => r.model === short)!;
      expect(model.parameterSize).toBe(`${row.sizeBillionParams}B`);
      expect(model.contextLength).toBe(row.contextTokens);
    }
  });
});

describe('paper data', () => {
  it('parses quoted CSV fields and reads Appendix A', () => {
    expect(parseCsv('a,b\n"x, ""y""",2\n')).toEqual([['a', 'b'], ['x, "y"', '2']]);
    const cells = loadPaperAppendixA();
    expect(cells).toHaveLength(120);
    expect(cells[0]).toMatchObject({ model: 'command-r-plus', concurrentQueries: 1, meanSeconds: 106, sdSeconds: 20 });
  });
});

describe('keep_alive', () => {
  it('reads numbers as seconds and Go durations', () => {
    expect(parseKeepAliveMs(30)).toBe(30_000);
    expect(parseKeepAliveMs('5m')).toBe(300_000);
    expect(parseKeepAliveMs('1h30m')).toBe(5_400_000);
    expect(parseKeepAliveMs('0')).toBe(0);
    expect(parseKeepAliveMs(-1)).toBe(-1);
    expect(parseKeepAliveMs('-1m')).toBe(-1);
    expect(() => parseKeepAliveMs('soon')).toThrow(/keep_alive/);
  });
});
