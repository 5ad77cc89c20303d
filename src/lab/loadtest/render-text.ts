import { ERROR_KINDS } from '../client/stream-chat.js';
import type { GroupSummary, LoadTestSummary } from './summarize.js';
import type { Stats } from './stats.js';
import { formatMeanSd } from './svg-charts.js';

function meanSd(stats: Stats | null): string {
  return stats ? formatMeanSd(stats.mean, stats.sd) : '–';
}

function levelHeader(summary: LoadTestSummary, level: number): string {
  const mode = summary.setup?.mode ?? summary.cells[0]?.mode ?? 'closed';
  return mode === 'open' ? `${level}/s` : `${level} CQ`;
}

function marks(cell: GroupSummary): string {
  const timeouts = cell.errors.timeout;
  const other = cell.requests - cell.ok - timeouts;
  return `${timeouts > 0 ? '†' : ''}${other > 0 ? '*' : ''}`;
}

function cellText(cell: GroupSummary | undefined): string {
  if (!cell) return '';
  return `${meanSd(cell.latencyS)}${marks(cell)}`;
}

function pad(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((row) => row.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ').trimEnd()).join('\n');
}

/**
 * The paper's Appendix A layout: per prompt, one row per model with "mean ± sd" seconds at each
 * level; with a paper comparison, each level gets a paper column beside the measured one.
 */
export function renderTable(summary: LoadTestSummary): string {
  const levels = summary.setup?.levels ?? [...new Set(summary.cells.map((c) => c.level))];
  const models = summary.setup?.models ?? [...new Set(summary.cells.map((c) => c.model))];
  const compare = summary.compare === 'paper';
  const header = ['Model', ...levels.flatMap((l) => (compare ? [levelHeader(summary, l), 'paper'] : [levelHeader(summary, l)]))];
  const out: string[] = ['Time [s] per request, mean ± sd'];
  const prompts = [...new Map(summary.cells.map((c) => [c.promptIndex!, c.prompt!])).entries()].sort((a, b) => a[0] - b[0]);
  const rows: string[][] = [header];
  const promptRows = new Set<number>();
  for (const [index, prompt] of prompts) {
    promptRows.add(rows.length);
    rows.push([`Prompt ${index + 1}: ${prompt}`]);
    for (const model of models) {
      const row = [model];
      for (const level of levels) {
        const cell = summary.cells.find((c) => c.model === model && c.promptIndex === index && c.level === level);
        row.push(cellText(cell));
        if (compare) row.push(cell?.paper ? `${cell.paper.meanS} ± ${cell.paper.sdS}` : '–');
      }
      rows.push(row);
    }
  }
  // Prompt titles are as wide as a sentence: pad the table without them, then put them back.
  const table = pad(rows.map((r, i) => (promptRows.has(i) ? [''] : r))).split('\n');
  for (const i of promptRows) table[i] = rows[i]![0]!;
  out.push(table.join('\n'));
  out.push('', 'All prompts pooled');
  const pooled: string[][] = [header];
  for (const model of models) {
    const row = [model];
    for (const level of levels) {
      const m = summary.models.find((c) => c.model === model && c.level === level);
      row.push(cellText(m));
      if (compare) row.push(m?.paper ? formatMeanSd(m.paper.meanS, m.paper.sdS) : '–');
    }
    pooled.push(row);
  }
  out.push(pad(pooled));
  const legend = [
    ...(summary.cells.some((c) => c.errors.timeout > 0) ? ['† some requests timed out (counted at the time waited, as in the paper)'] : []),
    ...(summary.cells.some((c) => c.requests - c.ok - c.errors.timeout > 0) ? ['* some requests failed (left out; see errors)'] : []),
  ];
  if (legend.length > 0) out.push('', legend.join('   '));
  const errorLines = summary.models.filter((m) => m.ok < m.requests).map((m) => {
    const kinds = ERROR_KINDS.filter((k) => m.errors[k] > 0).map((k) => `${k} ${m.errors[k]}`).join(', ');
    return `  ${m.model} @ ${levelHeader(summary, m.level)}: ${m.requests - m.ok}/${m.requests} failed (${kinds})`;
  });
  if (errorLines.length > 0) out.push('Errors:', ...errorLines);
  for (const w of summary.warnings) out.push(`warning: ${w}`);
  if (summary.fatalError) out.push(`stopped early: ${summary.fatalError}`);
  else if (summary.aborted) out.push('stopped early: the run was interrupted; results are partial');
  return `${out.join('\n')}\n`;
}

function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'number' ? String(Number.isInteger(value) ? value : Number(value.toPrecision(6))) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const STAT_COLUMNS: { name: string; pick: (g: GroupSummary) => Stats | null }[] = [
  { name: 'latency_s', pick: (g) => g.latencyS },
  { name: 'e2e_s', pick: (g) => g.e2eS },
  { name: 'ttft_s', pick: (g) => g.ttftS },
  { name: 'itl_ms', pick: (g) => g.itlMs },
  { name: 'tpot_ms', pick: (g) => g.tpotMs },
  { name: 'output_tokens', pick: (g) => g.outputTokens },
];

/** summary.csv: one row per cell (model × prompt × level), flat columns. */
export function renderCsv(summary: LoadTestSummary): string {
  const header = ['model', 'prompt_index', 'prompt', 'mode', 'level', 'requests', 'ok', ...ERROR_KINDS.map((k) => `errors_${k}`)];
  for (const col of STAT_COLUMNS) header.push(...['mean', 'sd', 'p50', 'p90', 'p99'].map((s) => `${col.name}_${s}`));
  header.push('output_tokens_total', 'wall_s', 'throughput_tokens_per_s', 'requests_per_s', 'goodput_fraction', 'paper_mean_s', 'paper_sd_s');
  const lines = [header.join(',')];
  for (const c of summary.cells) {
    const row: unknown[] = [c.model, c.promptIndex, c.prompt, c.mode, c.level, c.requests, c.ok, ...ERROR_KINDS.map((k) => c.errors[k])];
    for (const col of STAT_COLUMNS) {
      const s = col.pick(c);
      row.push(s?.mean, s?.sd, s?.p50, s?.p90, s?.p99);
    }
    row.push(c.outputTokensTotal, c.wallS, c.throughputTokensPerS, c.requestsPerS, c.goodput?.fraction, c.paper?.meanS, c.paper?.sdS);
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}
