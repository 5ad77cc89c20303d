/**
 * Wire types of the energy report (`flexi energy report --json`, `GET /admin/v1/energy/report`), the live GPU
 * view (`GET /admin/v1/energy/live`) and a user's own energy (`GET /ui/v1/me/energy`). Energy in Wh, cost in
 * `currency`, CO2 in grams.
 */

/** Figures of one row (a node, model, role, group or day) or of the whole report. */
export interface EnergyFiguresJson {
  energy_wh: number;
  energy_kwh: number;
  cost: number;
  co2_g: number;
  requests: number;
  /** Prompt + completion tokens of the requests with energy. */
  tokens: number;
  /** null without energy. */
  tokens_per_kwh: number | null;
}

export interface EnergyRowJson extends EnergyFiguresJson {
  /** The node, model, role, group or day (`YYYY-MM-DD`, UTC); `(idle)` for energy no request ran in. */
  key: string;
  /** Node and day rows: the part of the energy no request ran in. */
  idle_wh?: number;
}

export interface EnergyReportJson {
  since: string;
  until: string | null;
  by: 'node' | 'model' | 'role' | 'group' | 'day';
  /** What the figures cover (GPU board power only). */
  scope: string;
  /** How idle energy is reported: a line of its own, or spread over the day's requests. */
  idle: 'apart' | 'spread';
  currency: string;
  price_per_kwh: number;
  co2_g_per_kwh: number;
  total: EnergyFiguresJson & { idle_wh: number; attributed_wh: number; gpu_days: number };
  rows: EnergyRowJson[];
  /** With `--compare paper`: this deployment beside the paper's figures. */
  compare?: {
    deployment: { kwh_per_gpu_day: number | null; kwh_per_year: number | null; cost_per_year: number | null; co2_kg_per_year: number | null };
    paper: { kwh_per_gpu_day: number; kwh_per_year_measured_rate: number; kwh_per_year_max: number; cost_per_year_max: number; co2_kg_per_year_max: number };
  };
}

export interface GpuJson {
  index: number;
  name: string;
  power_watts: number | null;
  power_limit_watts: number | null;
  utilization_ratio: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  temperature_celsius: number | null;
}

/** GET /admin/v1/energy/live: each node's latest GPU reading and recent totals for the charts. */
export interface EnergyLiveJson {
  nodes: {
    node: string;
    state: 'ok' | 'unavailable' | 'unreachable' | 'unknown';
    error: string | null;
    at: string | null;
    gpus: GpuJson[];
    /** Oldest first: epoch ms, total power (W), mean utilization (0-1), memory used (bytes). */
    history: { at_ms: number[]; power_watts: number[]; utilization_ratio: number[]; memory_used_bytes: number[] };
  }[];
}

/** GET /ui/v1/me/energy: the signed-in user's own energy. */
export interface OwnEnergyJson {
  since: string;
  energy_wh: number;
  co2_g: number;
  requests: number;
}
