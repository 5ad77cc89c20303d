import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

export const NVIDIA_SMI_FIXTURES = resolve(import.meta.dirname, '../fixtures/nvidia-smi');

/**
 * A folder holding an executable `nvidia-smi` (test/fixtures/nvidia-smi/fake-nvidia-smi.mjs) and the PATH that
 * finds it first. The fake reads its behaviour from FAKE_SMI_* variables (see the script).
 */
export function fakeNvidiaSmiPath(): { dir: string; command: string; path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'flexi-fake-smi-'));
  const command = join(dir, 'nvidia-smi');
  symlinkSync(join(NVIDIA_SMI_FIXTURES, 'fake-nvidia-smi.mjs'), command);
  return { dir, command, path: `${dir}${delimiter}${process.env.PATH ?? ''}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function fixture(name: string): string {
  return join(NVIDIA_SMI_FIXTURES, name);
}
