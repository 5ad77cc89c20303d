/**
 * Inline SVG charts for the self-contained HTML report: no script, no network, printable.
 * Each chart has a <title> and an aria-label so screen readers announce what it shows.
 */

/** Okabe–Ito colours (distinguishable with colour-vision deficiencies); yellow left out (poor on white). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#555555', '#000000'];

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"';

/** Round tick steps (1, 2, 5 × 10^k) covering 0…max. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

export function formatNumber(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(Number.isInteger(v) ? 0 : 1);
  return Number(v.toPrecision(2)).toString();
}

export interface SeriesPoint {
  x: string;
  y: number;
  /** Half-height of the error bar (e.g. one sd). */
  err?: number;
}

export interface Series {
  name: string;
  color: string;
  points: SeriesPoint[];
  dashed?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Categories along x, in order (e.g. the concurrency levels). */
  xs: string[];
  series: Series[];
  width?: number;
  height?: number;
  /** Draw a horizontal reference line (e.g. the time-out) with this label. */
  reference?: { y: number; label: string };
  legend?: boolean;
}

interface Frame {
  left: number;
  top: number;
  plotWidth: number;
  plotHeight: number;
}

function yAxis(frame: Frame, ticks: number[], yOf: (v: number) => number, label: string): string {
  const parts: string[] = [];
  for (const t of ticks) {
    const y = yOf(t);
    parts.push(`<line x1="${frame.left}" x2="${frame.left + frame.plotWidth}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${frame.left - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#333">${formatNumber(t)}</text>`);
  }
  const cy = frame.top + frame.plotHeight / 2;
  parts.push(`<text transform="translate(14 ${cy}) rotate(-90)" text-anchor="middle" font-size="12" fill="#222">${escapeXml(label)}</text>`);
  return parts.join('');
}

/** Lines over categorical x with optional error bars; one colour per series. */
export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 640;
  const rows = spec.legend === false ? 0 : legendRows(spec.series, width - 56);
  const height = (spec.height ?? 320) + rows * 18;
  const frame: Frame = { left: 56, top: 34, plotWidth: width - 56 - 16, plotHeight: (spec.height ?? 320) - 34 - 48 };
  const values = spec.series.flatMap((s) => s.points.map((p) => p.y + (p.err ?? 0)));
  const dataMax = Math.max(0, ...values.filter(Number.isFinite));
  // A reference line far above the data would squash it flat: draw it only when it is in reach.
  const reference = spec.reference && spec.reference.y <= dataMax * 3 ? spec.reference : undefined;
  const ticks = niceTicks(Math.max(dataMax, reference?.y ?? 0));
  const yMax = ticks[ticks.length - 1]!;
  const yOf = (v: number) => frame.top + frame.plotHeight - (v / yMax) * frame.plotHeight;
  const step = frame.plotWidth / Math.max(1, spec.xs.length);
  const xOf = (x: string) => frame.left + step * (spec.xs.indexOf(x) + 0.5);
  const parts: string[] = [];
  parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600" fill="#111">${escapeXml(spec.title)}</text>`);
  parts.push(yAxis(frame, ticks, yOf, spec.yLabel));
  const axisY = frame.top + frame.plotHeight;
  parts.push(`<line x1="${frame.left}" x2="${frame.left + frame.plotWidth}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  for (const x of spec.xs) parts.push(`<text x="${xOf(x)}" y="${axisY + 16}" text-anchor="middle" font-size="11" fill="#333">${escapeXml(x)}</text>`);
  parts.push(`<text x="${frame.left + frame.plotWidth / 2}" y="${axisY + 34}" text-anchor="middle" font-size="12" fill="#222">${escapeXml(spec.xLabel)}</text>`);
  if (reference) {
    const y = yOf(reference.y);
    parts.push(`<line x1="${frame.left}" x2="${frame.left + frame.plotWidth}" y1="${y}" y2="${y}" stroke="#b00" stroke-dasharray="2 3"/>`);
    // Label at the left end: the lowest level (left) is the one least likely to sit near the time-out.
    parts.push(`<text x="${frame.left + 4}" y="${y - 4}" font-size="10" fill="#b00">${escapeXml(reference.label)}</text>`);
  }
  spec.series.forEach((s, si) => {
    // Offset series sideways a little so error bars of equal x do not hide each other.
    const offset = (si - (spec.series.length - 1) / 2) * Math.min(6, step / (spec.series.length * 2 + 2));
    const pts = s.points.filter((p) => Number.isFinite(p.y)).map((p) => ({ ...p, px: xOf(p.x) + offset, py: yOf(p.y) }));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const title = `<title>${escapeXml(s.name)}</title>`;
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${p.px.toFixed(1)},${p.py.toFixed(1)}`).join(' ')}">${title}</polyline>`);
    for (const p of pts) {
      if (p.err && p.err > 0) {
        const y1 = yOf(Math.max(0, p.y - p.err));
        const y2 = yOf(p.y + p.err);
        parts.push(`<path d="M${p.px} ${y1}V${y2}M${p.px - 4} ${y1}h8M${p.px - 4} ${y2}h8" stroke="${s.color}" stroke-width="1.2" fill="none"${s.dashed ? ' opacity="0.7"' : ''}/>`);
      }
      const marker = s.dashed
        ? `<rect x="${p.px - 3.5}" y="${p.py - 3.5}" width="7" height="7" fill="#fff" stroke="${s.color}" stroke-width="1.5">`
        : `<circle cx="${p.px}" cy="${p.py}" r="4" fill="${s.color}">`;
      const closing = s.dashed ? '</rect>' : '</circle>';
      parts.push(`${marker}<title>${escapeXml(`${s.name} @ ${p.x}: ${formatNumber(p.y)}${p.err ? ` ± ${formatNumber(p.err)}` : ''}`)}</title>${closing}`);
    }
  });
  if (spec.legend !== false) parts.push(legend(spec.series, frame.left, (spec.height ?? 320) + 2, width - frame.left));
  return svg(width, height, spec.title, parts);
}

function legend(series: Series[], x: number, y: number, width: number): string {
  // Flow items left to right by their text length, wrapping at the chart's width.
  let lx = x;
  let ly = y;
  return series.map((s) => {
    const itemWidth = 36 + s.name.length * 6.5;
    if (lx > x && lx + itemWidth > x + width) {
      lx = x;
      ly += 18;
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const out = `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`
      + `<text x="${lx + 28}" y="${ly}" font-size="11" fill="#222">${escapeXml(s.name)}</text>`;
    lx += itemWidth + 12;
    return out;
  }).join('');
}

/** Number of legend rows legend() needs. */
function legendRows(series: Series[], width: number): number {
  let rows = 1;
  let used = 0;
  for (const s of series) {
    const itemWidth = 36 + s.name.length * 6.5 + 12;
    if (used > 0 && used + itemWidth > width) {
      rows++;
      used = 0;
    }
    used += itemWidth;
  }
  return rows;
}

/** Mean ± sd with decimals chosen by the mean's size, the same for both numbers. */
export function formatMeanSd(mean: number, sd: number): string {
  const a = Math.abs(mean);
  const digits = a >= 10 ? 0 : a >= 1 ? 1 : a >= 0.1 ? 2 : 3;
  return `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`;
}

function svg(width: number, height: number, title: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(title)}" ${FONT}><title>${escapeXml(title)}</title>${parts.join('')}</svg>`;
}

export interface BoxRow {
  label: string;
  color: string;
  /** Sorted values; the box spans p25–p75 with the median, whiskers min–max. */
  values: number[];
}

function quantile(sorted: number[], p: number): number {
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Horizontal box plots, one row per label (e.g. model @ level). */
export function boxPlot(spec: { title: string; xLabel: string; rows: BoxRow[]; width?: number }): string {
  const width = spec.width ?? 640;
  const rowHeight = 22;
  const labelWidth = Math.min(220, 12 + Math.max(40, ...spec.rows.map((r) => r.label.length * 6.5)));
  const frame: Frame = { left: labelWidth, top: 32, plotWidth: width - labelWidth - 20, plotHeight: Math.max(1, spec.rows.length) * rowHeight };
  const height = frame.top + frame.plotHeight + 44;
  const ticks = niceTicks(Math.max(0, ...spec.rows.flatMap((r) => r.values)));
  const xMax = ticks[ticks.length - 1]!;
  const xOf = (v: number) => frame.left + (v / xMax) * frame.plotWidth;
  const parts: string[] = [];
  parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="600" fill="#111">${escapeXml(spec.title)}</text>`);
  const axisY = frame.top + frame.plotHeight;
  for (const t of ticks) {
    parts.push(`<line x1="${xOf(t)}" x2="${xOf(t)}" y1="${frame.top}" y2="${axisY}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${xOf(t)}" y="${axisY + 15}" text-anchor="middle" font-size="11" fill="#333">${formatNumber(t)}</text>`);
  }
  parts.push(`<text x="${frame.left + frame.plotWidth / 2}" y="${axisY + 34}" text-anchor="middle" font-size="12" fill="#222">${escapeXml(spec.xLabel)}</text>`);
  spec.rows.forEach((row, i) => {
    const cy = frame.top + i * rowHeight + rowHeight / 2;
    parts.push(`<text x="${frame.left - 8}" y="${cy + 4}" text-anchor="end" font-size="11" fill="#222">${escapeXml(row.label)}</text>`);
    if (row.values.length === 0) {
      parts.push(`<text x="${frame.left + 4}" y="${cy + 4}" font-size="11" fill="#888">no successful requests</text>`);
      return;
    }
    const s = row.values;
    const [min, q1, med, q3, max] = [s[0]!, quantile(s, 0.25), quantile(s, 0.5), quantile(s, 0.75), s[s.length - 1]!];
    const tip = `<title>${escapeXml(`${row.label}: n=${s.length}, min ${formatNumber(min)}, p25 ${formatNumber(q1)}, median ${formatNumber(med)}, p75 ${formatNumber(q3)}, max ${formatNumber(max)}`)}</title>`;
    parts.push(`<g>${tip}<line x1="${xOf(min)}" x2="${xOf(max)}" y1="${cy}" y2="${cy}" stroke="${row.color}"/>`
      + `<line x1="${xOf(min)}" x2="${xOf(min)}" y1="${cy - 5}" y2="${cy + 5}" stroke="${row.color}"/>`
      + `<line x1="${xOf(max)}" x2="${xOf(max)}" y1="${cy - 5}" y2="${cy + 5}" stroke="${row.color}"/>`
      + `<rect x="${xOf(q1)}" y="${cy - 7}" width="${Math.max(1.5, xOf(q3) - xOf(q1))}" height="14" fill="${row.color}" fill-opacity="0.25" stroke="${row.color}"/>`
      + `<line x1="${xOf(med)}" x2="${xOf(med)}" y1="${cy - 7}" y2="${cy + 7}" stroke="${row.color}" stroke-width="2.5"/></g>`);
  });
  return svg(width, height, spec.title, parts);
}
