import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseCsv } from '../data/paper.js';
import { PAPER_SERVER_A, PAPER_SERVER_B } from './profiles.js';

describe('paper-server-a', () => {
  it('is one 24 GB A5000 of server A, holding every model it lists', () => {
    const [header, ...rows] = parseCsv(readFileSync(new URL('../data/paper/table2-servers.csv', import.meta.url), 'utf8'));
    const a = rows.find((row) => row[0] === 'A')!;
    expect(a[header!.indexOf('gpu_model')]).toBe('NVIDIA RTX A5000');
    expect(PAPER_SERVER_A.memoryGb).toBe(Number(a[header!.indexOf('gpu_memory_gb')]));
    for (const model of PAPER_SERVER_A.models) expect(model.sizeGb).toBeLessThanOrEqual(PAPER_SERVER_A.memoryGb);
    expect(PAPER_SERVER_A.models.map((m) => m.name)).toEqual(['phi3:latest', 'llama3:latest', 'mistral:latest', 'gemma:latest', 'llava:latest']);
  });

  it('keeps server B output lengths and contention, decodes faster and prefills slower', () => {
    for (const model of PAPER_SERVER_A.models) {
      const b = PAPER_SERVER_B.models.find((m) => m.name === model.name)!;
      expect(model.outputTokens).toEqual(b.outputTokens);
      expect(model.contention).toEqual(b.contention);
      expect(model.decodeTokensPerSecond).toBeGreaterThan(b.decodeTokensPerSecond);
      expect(model.ttftMs).toBeGreaterThan(b.ttftMs);
      expect(model.sizeGb).toBeGreaterThan(b.sizeGb);
      expect(model.slots).toBe(4);
    }
  });
});
