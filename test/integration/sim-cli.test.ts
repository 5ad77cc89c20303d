import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

describe('flexi sim', { timeout: 180_000 }, () => {
  it('prints its URL, serves requests and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'sim', '--port', '0', '--profile', 'tiny', '--speed', '50', '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; profile: string; speed: number };
    expect(started).toMatchObject({ profile: 'tiny', speed: 50 });
    const info = (await (await fetch(`${started.url}/sim/info`)).json()) as { speed: number };
    expect(info.speed).toBe(50);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
