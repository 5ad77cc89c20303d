// Usage per day and per model (admin), drawn with uPlot; tables carry the same numbers for screen readers.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { formatDay, formatNumber, t } from '../i18n';

interface UsageRow {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: string | number;
}

const DAY_MS = 86_400_000;

export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** Every day of the period, with zeros where nothing was used. */
function fillDays(rows: UsageRow[], days: number): { day: string; tokens: number; requests: number }[] {
  const byDay = new Map(rows.map((r) => [String(r.day), r]));
  const out = [];
  const start = Date.now() - (days - 1) * DAY_MS;
  for (let i = 0; i < days; i++) {
    const day = new Date(start + i * DAY_MS).toISOString().slice(0, 10);
    const row = byDay.get(day);
    out.push({ day, tokens: row?.total_tokens ?? 0, requests: row?.requests ?? 0 });
  }
  return out;
}

export function Chart({ options, data, label }: { options: (width: number) => uPlot.Options; data: uPlot.AlignedData; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = ref.current;
    if (!host) return;
    const plot = new uPlot(options(host.clientWidth), data, host);
    const observer = new ResizeObserver(() => plot.setSize({ width: host.clientWidth, height: 260 }));
    observer.observe(host);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [data]);
  return <div ref={ref} class="chart" role="img" aria-label={label} />;
}

/**
 * Width (or height) an axis needs for its longest label: a fixed size cut "1,200,000" short, and
 * German numbers are wider. uPlot calls this again after laying the labels out (cycle > 1).
 */
export function fitLabels(self: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = self.axes[axisIdx]!;
  if (cycleNum > 1) return (axis as { _size?: number })._size ?? 40;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 4;
  if (longest) {
    self.ctx.font = axis.font?.[0] ?? self.ctx.font;
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

export function axes(): Pick<uPlot.Axis, 'stroke' | 'grid' | 'ticks'> {
  const grid = cssVar('--border');
  return { stroke: cssVar('--muted'), grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

/**
 * The x axis of the per-day chart: ticks on the data's own days (UTC midnights; uPlot's would fall
 * on local midnights), about one per 64 px, labelled in the UI language (uPlot's are US-style, `12/6`).
 */
export const dayAxis: Pick<uPlot.Axis, 'splits' | 'values'> = {
  splits: (self) => {
    const days = Array.from(self.data[0]);
    const fit = Math.max(1, Math.floor(self.bbox.width / devicePixelRatio / 64));
    const step = Math.ceil(days.length / fit);
    return days.filter((_, i) => i % step === 0);
  },
  values: (_, ticks) => ticks.map((s) => formatDay(new Date(s * 1000))),
};

interface DaySeries {
  label: string;
  values: number[];
  /** The axis reaches at least this high, so a quiet period does not look busy. */
  min: number;
}

/** One bar per day (left axis) with a line over it (right axis); `days` are the UTC midnights, in seconds. */
export function DayChart({ label, days, bars, line, integerLine }: { label: string; days: number[]; bars: DaySeries; line: DaySeries; integerLine?: boolean }) {
  const accent = cssVar('--accent');
  const accent2 = cssVar('--accent-2');
  const barPaths = uPlot.paths.bars!({ size: [0.6, 64] });
  const halfDayS = DAY_MS / 2000;
  return (
    <Chart label={label} data={[days, bars.values, line.values]} options={(width) => ({
      width, height: 260,
      series: [
        { label: t('day'), value: (_, s) => (s === null ? '' : formatDay(new Date(s * 1000), true)) },
        { label: bars.label, stroke: accent, fill: `${accent}66`, paths: barPaths, points: { show: false }, scale: 'bars' },
        { label: line.label, stroke: accent2, width: 2, points: { show: false }, scale: 'line' },
      ],
      axes: [
        { ...axes(), ...dayAxis },
        { ...axes(), scale: 'bars', size: fitLabels, values: (_, ticks) => ticks.map((v) => formatNumber(v)) },
        { ...axes(), scale: 'line', side: 1, size: fitLabels, grid: { show: false },
          values: (_, ticks) => ticks.map((v) => (integerLine && !Number.isInteger(v) ? '' : formatNumber(v))) },
      ],
      scales: {
        x: { time: true, range: (_, min, max) => [min - halfDayS, max + halfDayS] },
        bars: { range: (_, _min, max) => [0, Math.max(bars.min, max * 1.1)] },
        line: { range: (_, _min, max) => [0, Math.max(line.min, max * 1.1)] },
      },
    })} />
  );
}

/** The reporting period of the admin charts: the last 7, 30 or 90 days. */
export function PeriodSelect({ days, onChange }: { days: number; onChange: (days: number) => void }) {
  return (
    <label class="field inline">
      <span>{t('period')}</span>
      <select value={days} onChange={(e) => onChange(Number(e.currentTarget.value))}>
        <option value={7}>{t('last7')}</option>
        <option value={30}>{t('last30')}</option>
        <option value={90}>{t('last90')}</option>
      </select>
    </label>
  );
}

export function UsageCharts() {
  const [days, setDays] = useState(30);
  const [byDay, setByDay] = useState<UsageRow[] | undefined>(undefined);
  const [byModel, setByModel] = useState<UsageRow[] | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    const since = new Date(Date.now() - (days - 1) * DAY_MS).toISOString().slice(0, 10);
    Promise.all([
      api<{ data: UsageRow[] }>('GET', `/admin/v1/usage?by=day&since=${since}`),
      api<{ data: UsageRow[] }>('GET', `/admin/v1/usage?by=model&since=${since}`),
    ]).then(([d, m]) => {
      setByDay(d.data);
      setByModel(m.data);
      setError('');
    }, (e: Error) => setError(e.message));
  }, [days]);

  const filled = byDay ? fillDays(byDay, days) : [];
  const dayStarts = filled.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  const models = byModel ?? [];
  const modelData: uPlot.AlignedData = [models.map((_, i) => i), models.map((m) => m.total_tokens)];
  const bars = uPlot.paths.bars!({ size: [0.6, 64] });
  const accent = cssVar('--accent');

  return (
    <>
      <div class="row between wrap">
        <PeriodSelect days={days} onChange={setDays} />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <section class="card" aria-labelledby="per-day-title">
        <h2 id="per-day-title">{t('tokensPerDay')}</h2>
        {byDay && (
          <DayChart label={t('tokensPerDay')} days={dayStarts} integerLine
            bars={{ label: t('tokens'), values: filled.map((d) => d.tokens), min: 10 }}
            line={{ label: t('requests'), values: filled.map((d) => d.requests), min: 4 }} />
        )}
      </section>
      <section class="card" aria-labelledby="per-model-title">
        <h2 id="per-model-title">{t('tokensPerModel')}</h2>
        {models.length === 0 && byModel && <p class="muted">{t('noUsage')}</p>}
        {models.length > 0 && (
          <>
            <Chart label={t('tokensPerModel')} data={modelData} options={(width) => ({
              width, height: 260, legend: { show: false },
              series: [{}, { label: t('tokens'), stroke: accent, fill: `${accent}66`, paths: bars, points: { show: false } }],
              axes: [
                // Model names are long: slanted so that neighbours do not overlap, with room below for them.
                { ...axes(), rotate: -30, size: (self, values, i, cycle) => Math.min(160, fitLabels(self, values, i, cycle) * 0.5 + 30),
                  values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) ? String(models[i]?.model ?? '') : '')) },
                { ...axes(), size: fitLabels, values: (_, ticks) => ticks.map((v) => formatNumber(v)) },
              ],
              scales: { x: { time: false, range: [-0.5, models.length - 0.5] }, y: { range: (_, _min, max) => [0, Math.max(10, max * 1.1)] } },
            })} />
            <div class="table-wrap">
              <table>
                <thead><tr><th scope="col">{t('model')}</th><th scope="col" class="right">{t('requests')}</th><th scope="col" class="right">{t('errors')}</th><th scope="col" class="right">{t('tokens')}</th></tr></thead>
                <tbody>
                  {models.map((m) => <tr key={String(m.model)}><td>{m.model}</td><td class="right">{formatNumber(m.requests)}</td><td class="right">{formatNumber(m.errors)}</td><td class="right">{formatNumber(m.total_tokens)}</td></tr>)}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>
    </>
  );
}
