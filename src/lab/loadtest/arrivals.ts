/** Open-loop arrival times are reproducible from `--seed` (mulberry32, src/lib/random.ts). */

/**
 * Send times (ms from the cell's start) of `count` Poisson arrivals at `ratePerS`. With a ramp,
 * the rate rises linearly from 0 to `ratePerS` over `rampMs`: arrivals are drawn on the unit-rate
 * scale and mapped back through the inverse of the cumulative rate Λ(t).
 */
export function poissonArrivalsMs(count: number, ratePerS: number, rampMs: number, random: () => number): number[] {
  const ratePerMs = ratePerS / 1000;
  const out: number[] = [];
  let cumulative = 0;
  for (let i = 0; i < count; i++) {
    cumulative += -Math.log(1 - random());
    out.push(inverseCumulativeRate(cumulative, ratePerMs, rampMs));
  }
  return out;
}

function inverseCumulativeRate(lambda: number, ratePerMs: number, rampMs: number): number {
  if (rampMs <= 0) return lambda / ratePerMs;
  // Λ(t) = r t² / (2 R) during the ramp, then r R / 2 + r (t − R).
  const rampArea = (ratePerMs * rampMs) / 2;
  if (lambda <= rampArea) return Math.sqrt((2 * rampMs * lambda) / ratePerMs);
  return rampMs + (lambda - rampArea) / ratePerMs;
}
