import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixture } from '../../test/helpers/fake-nvidia-smi.js';
import { parseDcgmMetrics, parseNvidiaSmiCsv } from './gpu-sample.js';

const MIB = 1_048_576;

describe('parseNvidiaSmiCsv', () => {
  it('reads an A100 pair in base units: watts, ratio, bytes, joules from millijoules', () => {
    const gpus = parseNvidiaSmiCsv(readFileSync(fixture('a100.csv'), 'utf8'), true);
    expect(gpus).toHaveLength(2);
    expect(gpus[1]).toEqual({
      index: 1, uuid: 'GPU-e1d2c3b4-a596-4788-99aa-bbccddeeff00', name: 'NVIDIA A100-SXM4-80GB', powerWatts: 312.88, powerLimitWatts: 400,
      utilizationRatio: 1, memoryUsedBytes: 71839 * MIB, memoryTotalBytes: 81920 * MIB, temperatureCelsius: 62, smClockMhz: 1410,
      memoryClockMhz: 1593, energyJoules: 2288130.777,
    });
  });

  it('reads the A40 and H100 fixtures', () => {
    const a40 = parseNvidiaSmiCsv(readFileSync(fixture('a40.csv'), 'utf8'), true);
    const h100 = parseNvidiaSmiCsv(readFileSync(fixture('h100.csv'), 'utf8'), true);
    expect(a40.map((g) => [g.name, g.powerWatts, g.utilizationRatio])).toEqual([['NVIDIA A40', 228.41, 0.97], ['NVIDIA A40', 31.07, 0]]);
    expect(h100[0]).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', powerWatts: 698.12, powerLimitWatts: 700, temperatureCelsius: 79 });
  });

  it('leaves out a value the GPU does not support ([N/A]) instead of reading it as zero', () => {
    const [gpu] = parseNvidiaSmiCsv(readFileSync(fixture('p40-no-energy.csv'), 'utf8'), true);
    expect(gpu!.name).toBe('Tesla P40');
    expect(gpu!.powerWatts).toBe(49.83);
    expect('energyJoules' in gpu!).toBe(false);
  });

  it('skips lines with the wrong number of cells (the driver\'s error text, a truncated line)', () => {
    expect(parseNvidiaSmiCsv('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.\n0, GPU-x, A40, 1\n', false)).toEqual([]);
  });
});

describe('parseDcgmMetrics', () => {
  it('converts DCGM units (mJ, %, MiB) and drops the blank sentinel', () => {
    const text = [
      '# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).',
      '# TYPE DCGM_FI_DEV_POWER_USAGE gauge',
      'DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu1"} 312.5',
      'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",UUID="GPU-a",modelName="NVIDIA H100 80GB HBM3"} 1500000',
      'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 85',
      'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a"} 1000',
      'DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a"} 3000',
      'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a"} 61',
      'DCGM_FI_DEV_MEMORY_TEMP{gpu="0",UUID="GPU-a"} 9223372036854775794',
      'DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-b",modelName="NVIDIA H100 80GB HBM3"} 9223372036854775794',
    ].join('\n');
    const gpus = parseDcgmMetrics(text);
    expect(gpus[0]).toEqual({
      index: 0, uuid: 'GPU-a', name: 'NVIDIA H100 80GB HBM3', powerWatts: 312.5, energyJoules: 1500, utilizationRatio: 0.85,
      memoryUsedBytes: 1000 * MIB, memoryTotalBytes: 4000 * MIB, temperatureCelsius: 61,
    });
    expect(gpus[1]?.powerWatts).toBeUndefined();
  });
});
