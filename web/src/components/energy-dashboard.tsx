// Energy (admin): each node's GPUs live, energy/cost/CO2 per day and per model, tokens per kWh — uPlot like the
// usage page, with tables carrying the same numbers for screen readers.
import uPlot from 'uplot';
import { useEffect, useState } from 'preact/hooks';
import { api, type EnergyLiveJson, type EnergyReportJson } from '../api';
import { formatDay, formatNumber, t } from '../i18n';
import { axes, Chart, cssVar, DayChart, fitLabels, PeriodSelect } from './usage-charts';

const DAY_MS = 86_400_000;
const GIB = 1024 ** 3;
const LIVE_REFRESH_MS = 5000;

type LiveNode = EnergyLiveJson['nodes'][number];

const kwh = (wh: number) => formatNumber(Math.round(wh) / 1000);
const money = (amount: number, currency: string) => `${formatNumber(Math.round(amount * 100) / 100)} ${currency}`;
const co2 = (grams: number) => (grams >= 1000 ? `${formatNumber(Math.round(grams / 100) / 10)} kg` : `${formatNumber(Math.round(grams))} g`);
const percent = (ratio: number | null) => (ratio === null ? '–' : `${Math.round(ratio * 100)} %`);

function NodeLive({ node }: { node: LiveNode }) {
  const accent = cssVar('--accent');
  const accent2 = cssVar('--accent-2');
  const totalMemory = node.gpus.reduce((s, g) => s + (g.memory_total_bytes ?? 0), 0);
  const h = node.history;
  const data: uPlot.AlignedData = [
    h.at_ms.map((ms) => ms / 1000), h.power_watts, h.utilization_ratio.map((r) => r * 100),
    h.memory_used_bytes.map((b) => (totalMemory > 0 ? (b / totalMemory) * 100 : 0)),
  ];
  return (
    <div class="energy-node">
      <div class="row between wrap">
        <h3>{node.node}</h3>
        <span class={`badge ${node.state === 'ok' ? 'good' : node.state === 'unreachable' ? 'bad' : 'warn'}`}>{t('telemetryState', { state: node.state })}</span>
      </div>
      {node.error && <p class="error small">{node.error}</p>}
      {h.at_ms.length > 1 && (
        <Chart label={`${node.node}: ${t('gpuPower')}, ${t('gpuUtilization')}, ${t('gpuMemory')}`} data={data} options={(width) => ({
          width, height: 200,
          series: [
            {},
            { label: t('gpuPower'), stroke: accent, width: 2, points: { show: false }, scale: 'watts' },
            { label: t('gpuUtilization'), stroke: accent2, width: 2, points: { show: false }, scale: 'percent' },
            { label: t('gpuMemory'), stroke: cssVar('--muted'), width: 1, dash: [4, 4], points: { show: false }, scale: 'percent' },
          ],
          axes: [
            { ...axes() },
            { ...axes(), scale: 'watts', size: fitLabels, values: (_, ticks) => ticks.map((v) => `${formatNumber(v)} W`) },
            { ...axes(), scale: 'percent', side: 1, size: fitLabels, grid: { show: false }, values: (_, ticks) => ticks.map((v) => `${v} %`) },
          ],
          scales: { x: { time: true }, watts: { range: (_, _min, max) => [0, Math.max(50, max * 1.15)] }, percent: { range: [0, 100] } },
        })} />
      )}
      <div class="table-wrap">
        <table>
          <thead><tr>
            <th scope="col">GPU</th><th scope="col" class="right">{t('gpuPower')}</th><th scope="col" class="right">{t('gpuUtilization')}</th>
            <th scope="col" class="right">{t('gpuMemory')}</th><th scope="col" class="right">{t('gpuTemperature')}</th>
          </tr></thead>
          <tbody>
            {node.gpus.map((g) => (
              <tr key={g.index}>
                <td>{g.index}: {g.name}</td>
                <td class="right">{g.power_watts === null ? '–' : `${formatNumber(Math.round(g.power_watts))}${g.power_limit_watts ? ` / ${formatNumber(Math.round(g.power_limit_watts))}` : ''}`}</td>
                <td class="right">{percent(g.utilization_ratio)}</td>
                <td class="right">{g.memory_used_bytes === null ? '–' : `${formatNumber(Math.round((g.memory_used_bytes / GIB) * 10) / 10)} / ${formatNumber(Math.round(((g.memory_total_bytes ?? 0) / GIB) * 10) / 10)} GiB`}</td>
                <td class="right">{g.temperature_celsius === null ? '–' : `${g.temperature_celsius} °C`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function fillDays(rows: EnergyReportJson['rows'], days: number): EnergyReportJson['rows'] {
  const byDay = new Map(rows.map((r) => [r.key, r]));
  const start = Date.now() - (days - 1) * DAY_MS;
  return Array.from({ length: days }, (_, i) => {
    const day = new Date(start + i * DAY_MS).toISOString().slice(0, 10);
    return byDay.get(day) ?? { key: day, energy_wh: 0, energy_kwh: 0, cost: 0, co2_g: 0, requests: 0, tokens: 0, tokens_per_kwh: null, idle_wh: 0 };
  });
}

export function EnergyDashboard() {
  const [days, setDays] = useState(30);
  const [live, setLive] = useState<EnergyLiveJson | undefined>(undefined);
  const [byDay, setByDay] = useState<EnergyReportJson | undefined>(undefined);
  const [byModel, setByModel] = useState<EnergyReportJson | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    const load = () => api<EnergyLiveJson>('GET', '/admin/v1/energy/live').then(setLive, (e: Error) => setError(e.message));
    void load();
    const timer = setInterval(() => void load(), LIVE_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  useEffect(() => {
    const since = new Date(Date.now() - (days - 1) * DAY_MS).toISOString().slice(0, 10);
    Promise.all([
      api<EnergyReportJson>('GET', `/admin/v1/energy/report?by=day&since=${since}`),
      api<EnergyReportJson>('GET', `/admin/v1/energy/report?by=model&since=${since}`),
    ]).then(([d, m]) => {
      setByDay(d);
      setByModel(m);
      setError('');
    }, (e: Error) => setError(e.message));
  }, [days]);

  const accent = cssVar('--accent');
  const bars = uPlot.paths.bars!({ size: [0.6, 64] });
  const filled = byDay ? fillDays(byDay.rows, days) : [];
  const models = (byModel?.rows ?? []).filter((r) => r.key !== '(idle)' || r.energy_wh > 0);
  const currency = byDay?.currency ?? 'EUR';
  const measured = models.filter((m) => m.key !== '(idle)');
  const modelChart = (label: string, rows: typeof models, values: number[], format: (v: number) => string) => (
    <Chart label={label} data={[rows.map((_, i) => i), values]} options={(width) => ({
      width, height: 240, legend: { show: false },
      series: [{}, { label, stroke: accent, fill: `${accent}66`, paths: bars, points: { show: false } }],
      axes: [
        { ...axes(), rotate: -30, size: (self, v, i, cycle) => Math.min(160, fitLabels(self, v, i, cycle) * 0.5 + 30),
          values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) ? String(rows[i]?.key ?? '') : '')) },
        { ...axes(), size: fitLabels, values: (_, ticks) => ticks.map(format) },
      ],
      scales: { x: { time: false, range: [-0.5, rows.length - 0.5] }, y: { range: (_, _min, max) => [0, Math.max(0.001, max * 1.1)] } },
    })} />
  );

  return (
    <>
      {error && <p class="error" role="alert">{error}</p>}
      <section class="card" aria-labelledby="gpus-live-title">
        <h2 id="gpus-live-title">{t('gpusLive')}</h2>
        {live && live.nodes.length === 0 && <p class="muted">{t('noTelemetry')}</p>}
        {live?.nodes.map((node) => <NodeLive key={node.node} node={node} />)}
      </section>
      <div class="row between wrap">
        <PeriodSelect days={days} onChange={setDays} />
        {byDay && (
          <p class="muted small" data-testid="energy-total">
            {t('energyTotal')}: {kwh(byDay.total.energy_wh)} kWh · {money(byDay.total.cost, currency)} · {co2(byDay.total.co2_g)} CO2
            {byDay.total.tokens_per_kwh !== null && ` · ${formatNumber(byDay.total.tokens_per_kwh)} ${t('tokensPerKwh')}`}
          </p>
        )}
      </div>
      <section class="card" aria-labelledby="energy-day-title">
        <h2 id="energy-day-title">{t('energyPerDay')}</h2>
        {byDay && (
          <DayChart label={t('energyPerDay')} days={filled.map((r) => Date.parse(`${r.key}T00:00:00Z`) / 1000)}
            bars={{ label: t('energyKwh'), values: filled.map((r) => r.energy_wh / 1000), min: 0.01 }}
            line={{ label: `${t('energyCo2')} (kg)`, values: filled.map((r) => r.co2_g / 1000), min: 0.004 }} />
        )}
        {byDay && byDay.rows.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead><tr>
                <th scope="col">{t('day')}</th><th scope="col" class="right">{t('energyKwh')}</th><th scope="col" class="right">{t('energyIdle')}</th>
                <th scope="col" class="right">{t('energyCost')}</th><th scope="col" class="right">{t('energyCo2')}</th>
              </tr></thead>
              <tbody>
                {byDay.rows.map((r) => (
                  <tr key={r.key}><td>{formatDay(new Date(`${r.key}T00:00:00Z`), true)}</td><td class="right">{kwh(r.energy_wh)}</td>
                    <td class="right">{kwh(r.idle_wh ?? 0)}</td><td class="right">{money(r.cost, currency)}</td><td class="right">{co2(r.co2_g)}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {byDay && <p class="muted small">{t('energyScope', { price: byDay.price_per_kwh, currency, co2: byDay.co2_g_per_kwh })}</p>}
      </section>
      <section class="card" aria-labelledby="energy-model-title">
        <h2 id="energy-model-title">{t('energyPerModel')}</h2>
        {models.length === 0 && byModel && <p class="muted">{t('noUsage')}</p>}
        {models.length > 0 && (
          <>
            {modelChart(t('energyPerModel'), models, models.map((m) => m.energy_wh / 1000), (v) => `${formatNumber(v)} kWh`)}
            <h3>{t('tokensPerKwh')}</h3>
            {measured.length > 0 && modelChart(t('tokensPerKwh'), measured, measured.map((m) => m.tokens_per_kwh ?? 0), (v) => formatNumber(v))}
            <div class="table-wrap">
              <table>
                <thead><tr>
                  <th scope="col">{t('model')}</th><th scope="col" class="right">{t('energyKwh')}</th><th scope="col" class="right">{t('energyCost')}</th>
                  <th scope="col" class="right">{t('energyCo2')}</th><th scope="col" class="right">{t('requests')}</th><th scope="col" class="right">{t('tokensPerKwh')}</th>
                </tr></thead>
                <tbody>
                  {models.map((m) => (
                    <tr key={m.key}><td>{m.key}</td><td class="right">{kwh(m.energy_wh)}</td><td class="right">{money(m.cost, currency)}</td><td class="right">{co2(m.co2_g)}</td>
                      <td class="right">{formatNumber(m.requests)}</td><td class="right">{m.tokens_per_kwh === null ? '–' : formatNumber(m.tokens_per_kwh)}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
    </>
  );
}
