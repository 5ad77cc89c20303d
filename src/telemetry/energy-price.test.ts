import { describe, expect, it } from 'vitest';
import { co2GramsOf, costOf, priceAt, type EnergyPricing } from './energy-price.js';

const pricing: EnergyPricing = {
  pricePerKwh: 0.3, currency: 'EUR', co2GramsPerKwh: 380, timezone: 'Europe/Berlin',
  tariffs: [{ from: '22:00', to: '06:00', pricePerKwh: 0.2 }, { from: '12:00', to: '13:00', pricePerKwh: 0.1 }],
};

describe('energy prices', () => {
  it('takes the window that holds the local time, across midnight, else the base price', () => {
    // 2026-01-15 in Berlin is UTC+1.
    expect(priceAt(pricing, Date.UTC(2026, 0, 15, 21, 30))).toBe(0.2); // 22:30 local
    expect(priceAt(pricing, Date.UTC(2026, 0, 15, 4, 59))).toBe(0.2); // 05:59 local
    expect(priceAt(pricing, Date.UTC(2026, 0, 15, 5, 0))).toBe(0.3); // 06:00 local: window ended
    expect(priceAt(pricing, Date.UTC(2026, 0, 15, 11, 0))).toBe(0.1); // 12:00 local
    // Summer time (UTC+2): 12:00 local is 10:00 UTC.
    expect(priceAt(pricing, Date.UTC(2026, 6, 15, 10, 0))).toBe(0.1);
  });

  it('prices Wh and turns them into grams of CO2', () => {
    expect(costOf(pricing, 1000, Date.UTC(2026, 0, 15, 9))).toBeCloseTo(0.3, 10);
    expect(co2GramsOf(pricing, 6.6667)).toBeCloseTo(2.5333, 3);
  });
});
