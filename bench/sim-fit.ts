/**
 * Fits each paper model's slots and contention (α, β) to Appendix A at 10 and 30 CQ by grid
 * search, using the same fluid model as `flexi sim --calibration`. Prints the best values to
 * paste into src/lab/sim/profiles.ts. Run: npx tsx bench/sim-fit.ts
 */
import { loadPaperAppendixA, PAPER_TIMEOUT_SECONDS } from '../src/lab/data/paper.js';
import { meanBurstSeconds } from '../src/lab/sim/calibration.js';
import { PAPER_SERVER_B } from '../src/lab/sim/profiles.js';

const cells = loadPaperAppendixA().filter((c) => c.concurrentQueries > 1);
const slotsGrid = (process.env.SLOTS ?? "1,2,3,4,6,8,10,12,16,24,32").split(",").map(Number);
const alphaGrid = Array.from({ length: 151 }, (_, i) => i * 0.02);
const exponentGrid = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

for (const base of PAPER_SERVER_B.models) {
  const name = base.name.replace(/:latest$/, '');
  const mine = cells.filter((c) => c.model === name);
  let best = { error: Infinity, slots: 0, alpha: 0, exponent: 1 };
  for (const slots of slotsGrid) {
    for (const exponent of exponentGrid) {
      for (const alpha of alphaGrid) {
        const model = { ...base, slots, contention: { alpha, exponent } };
        let error = 0;
        for (const cell of mine) {
          const sim = Math.min(meanBurstSeconds(model, cell.prompt, cell.concurrentQueries), PAPER_TIMEOUT_SECONDS);
          error += Math.log(sim / cell.meanSeconds) ** 2;
        }
        if (error < best.error - 1e-9) best = { error, slots, alpha, exponent };
      }
    }
  }
  console.log(`${name.padEnd(15)} slots ${String(best.slots).padStart(2)}  alpha ${best.alpha.toFixed(2)}  exponent ${best.exponent.toFixed(1)}  rms log error ${Math.sqrt(best.error / mine.length).toFixed(3)}`);
}
