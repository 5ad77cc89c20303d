/** Prices and carbon intensity (the `energy:` config, in camelCase). */
export interface EnergyPricing {
  pricePerKwh: number;
  currency: string;
  co2GramsPerKwh: number;
  /** IANA zone of the tariff windows. */
  timezone: string;
  tariffs: readonly { from: string; to: string; pricePerKwh: number }[];
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Minutes since local midnight of `atMs` in `timezone`. */
function localMinutes(atMs: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(atMs));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/** The price per kWh at `atMs`: the first tariff window that holds it (windows may run past midnight), else the base price. */
export function priceAt(pricing: EnergyPricing, atMs: number): number {
  if (pricing.tariffs.length === 0) return pricing.pricePerKwh;
  const now = localMinutes(atMs, pricing.timezone);
  for (const tariff of pricing.tariffs) {
    const from = minutesOf(tariff.from);
    const to = minutesOf(tariff.to);
    const inside = from <= to ? now >= from && now < to : now >= from || now < to;
    if (inside) return tariff.pricePerKwh;
  }
  return pricing.pricePerKwh;
}

/** Cost of `energyWh` used at `atMs`. */
export function costOf(pricing: EnergyPricing, energyWh: number, atMs: number): number {
  return (energyWh / 1000) * priceAt(pricing, atMs);
}

/** Grams of CO2 for `energyWh`. */
export function co2GramsOf(pricing: EnergyPricing, energyWh: number): number {
  return (energyWh / 1000) * pricing.co2GramsPerKwh;
}
