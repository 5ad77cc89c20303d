import { ERROR_KINDS } from '../client/stream-chat.js';
import { PAPER_TIMEOUT_S } from '../data/paper-appendix-a.js';
import type { LoadTestRecord } from './load-test.types.js';
import type { Stats } from './stats.js';
import type { GroupSummary, LoadTestSummary } from './summarize.js';
import { boxPlot, escapeXml as esc, formatMeanSd, lineChart, PALETTE, type Series } from './svg-charts.js';

function meanSd(stats: Stats | null): string {
  return stats ? formatMeanSd(stats.mean, stats.sd) : '–';
}

/** Two or three significant decimals for small numbers, fewer for large ones. */
function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}


function levelName(summary: LoadTestSummary, level: number): string {
  return (summary.setup?.mode ?? summary.cells[0]?.mode) === 'open' ? `${level}/s` : `${level} CQ`;
}

function modelsOf(summary: LoadTestSummary): string[] {
  return summary.setup?.models.filter((m) => summary.models.some((r) => r.model === m)) ?? [...new Set(summary.models.map((m) => m.model))];
}

function levelsOf(summary: LoadTestSummary): number[] {
  return summary.setup?.levels ?? [...new Set(summary.models.map((m) => m.level))];
}

function latencyPanels(summary: LoadTestSummary): string {
  const levels = levelsOf(summary);
  const xs = levels.map((l) => levelName(summary, l));
  const compare = summary.compare === 'paper';
  const timeoutS = summary.setup?.timeoutS ?? PAPER_TIMEOUT_S;
  return modelsOf(summary).map((model, i) => {
    const rows = levels.map((l) => summary.models.find((m) => m.model === model && m.level === l));
    const series: Series[] = [{
      name: 'measured', color: PALETTE[i % PALETTE.length]!,
      points: rows.flatMap((r, j) => (r?.latencyS ? [{ x: xs[j]!, y: r.latencyS.mean, err: r.latencyS.sd }] : [])),
    }];
    if (compare && rows.some((r) => r?.paper)) {
      series.push({ name: 'paper (server B)', color: '#777777', dashed: true,
        points: rows.flatMap((r, j) => (r?.paper ? [{ x: xs[j]!, y: r.paper.meanS, err: r.paper.sdS }] : [])) });
    }
    return `<figure class="panel">${lineChart({
      title: model, xLabel: summary.setup?.mode === 'open' ? 'arrival rate' : 'concurrent requests', yLabel: 'seconds per request',
      xs, series, width: 380, height: 260, reference: { y: timeoutS, label: `time-out ${timeoutS} s` },
    })}</figure>`;
  }).join('');
}

function ttftChart(summary: LoadTestSummary, records: readonly LoadTestRecord[]): string {
  const models = modelsOf(summary);
  const rows = models.flatMap((model, i) => levelsOf(summary).map((level) => ({
    label: `${model} @ ${levelName(summary, level)}`, color: PALETTE[i % PALETTE.length]!,
    values: records.filter((r) => !r.warmup && r.ok && r.model === model && r.level === level && r.ttftMs !== undefined)
      .map((r) => r.ttftMs! / 1000).sort((a, b) => a - b),
  })));
  return boxPlot({ title: 'Time to first token (box p25–p75, line median, whiskers min–max)', xLabel: 'seconds', rows, width: 780 });
}

function throughputChart(summary: LoadTestSummary): string {
  const levels = levelsOf(summary);
  const xs = levels.map((l) => levelName(summary, l));
  const series: Series[] = modelsOf(summary).map((model, i) => ({
    name: model, color: PALETTE[i % PALETTE.length]!,
    points: levels.flatMap((l, j) => {
      const row = summary.models.find((m) => m.model === model && m.level === l);
      return row?.throughputTokensPerS !== null && row?.throughputTokensPerS !== undefined ? [{ x: xs[j]!, y: row.throughputTokensPerS }] : [];
    }),
  }));
  return lineChart({ title: 'Aggregate output throughput', xLabel: summary.setup?.mode === 'open' ? 'arrival rate' : 'concurrent requests', yLabel: 'output tokens / s (all requests)', xs, series, width: 780, height: 340 });
}

function setupTable(summary: LoadTestSummary): string {
  const s = summary.setup;
  if (!s) return '<p>No setup recorded (summary computed from records only).</p>';
  const counters = s.serverCounters;
  const rows: [string, string][] = [
    ['Target', `${s.target} (${s.protocol}${s.serverVersion ? `, server version ${s.serverVersion}` : ''})`],
    ['Models', s.models.join(', ') + (s.missingModels.length ? ` — skipped, not on target: ${s.missingModels.join(', ')}` : '')],
    ['Mode', s.mode === 'closed' ? `closed loop, concurrency ${s.levels.join(', ')}` : `open loop (Poisson), rates ${s.levels.join(', ')} req/s${s.rampS ? `, ramp ${s.rampS} s` : ''}, seed ${s.seed}`],
    ['Requests per cell', `${s.requestsPerCell}${s.mode === 'closed' ? ' (at least the concurrency level)' : ''}, warm-up ${s.warmup} per model`],
    ['Client time-out', `${s.timeoutS} s`],
    ['Max output tokens', s.maxTokens === undefined ? 'server default' : String(s.maxTokens)],
    ['Time scale', s.timeScale === 1 ? '1 (real time)' : `×${s.timeScale} (${s.timeScaleSource}); times are simulated seconds`],
    ['SLO (goodput)', s.slo && (s.slo.ttftMs !== undefined || s.slo.e2eMs !== undefined) ? [s.slo.ttftMs !== undefined ? `TTFT ≤ ${s.slo.ttftMs} ms` : '', s.slo.e2eMs !== undefined ? `end-to-end ≤ ${s.slo.e2eMs} ms` : ''].filter(Boolean).join(', ') : 'none'],
    ['Started / finished', `${s.startedAt} / ${s.finishedAt ?? '–'}`],
    ['Tool', `flexi ${s.flexiVersion}`],
  ];
  if (counters) {
    const rate = counters.evalDurationMs > 0 ? (counters.evalCount / counters.evalDurationMs) * 1000 : undefined;
    rows.push(['Server counters', `${counters.requests} requests reported ${counters.evalCount} output tokens (eval_count) in ${(counters.evalDurationMs / 1000).toFixed(1)} s of decode (eval_duration): ${num(rate)} tokens/s per stream in server time; ${counters.promptEvalCount} prompt tokens`]);
  }
  return `<table class="setup">${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

function errorsText(g: GroupSummary): string {
  const kinds = ERROR_KINDS.filter((k) => g.errors[k] > 0).map((k) => `${k} ${g.errors[k]}`);
  return kinds.length ? kinds.join(', ') : '0';
}

function modelTable(summary: LoadTestSummary): string {
  const compare = summary.compare === 'paper';
  const goodput = summary.models.some((m) => m.goodput);
  const head = ['Model', 'Level', 'Requests', 'OK', 'Errors', 'Latency s (mean ± sd)', ...(compare ? ['Paper s'] : []), 'p50 / p95 s',
    'TTFT p50 / p95 s', 'ITL ms', 'TPOT ms', 'Tokens / s', ...(goodput ? ['Goodput'] : [])];
  const body = modelsOf(summary).flatMap((model) => summary.models.filter((m) => m.model === model)).map((m) => {
    const cells = [m.model, levelName(summary, m.level), String(m.requests), String(m.ok), errorsText(m), meanSd(m.latencyS),
      ...(compare ? [m.paper ? formatMeanSd(m.paper.meanS, m.paper.sdS) : '–'] : []),
      m.latencyS ? `${num(m.latencyS.p50)} / ${num(m.latencyS.p95)}` : '–',
      m.ttftS ? `${num(m.ttftS.p50)} / ${num(m.ttftS.p95)}` : '–',
      num(m.itlMs?.mean), num(m.tpotMs?.mean), num(m.throughputTokensPerS),
      ...(goodput ? [m.goodput ? `${(m.goodput.fraction * 100).toFixed(0)} %` : '–'] : [])];
    return `<tr>${cells.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;
  });
  return `<table class="data"><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function paperFormTable(summary: LoadTestSummary): string {
  const levels = levelsOf(summary);
  const compare = summary.compare === 'paper';
  const head = ['Model', ...levels.flatMap((l) => (compare ? [levelName(summary, l), 'paper'] : [levelName(summary, l)]))];
  const prompts = [...new Map(summary.cells.map((c) => [c.promptIndex!, c.prompt!])).entries()].sort((a, b) => a[0] - b[0]);
  const body = prompts.map(([index, prompt]) => {
    const title = `<tr class="prompt"><th colspan="${head.length}" scope="rowgroup">Prompt ${index + 1}: ${esc(prompt)}</th></tr>`;
    const rows = modelsOf(summary).map((model) => {
      const cells = levels.flatMap((l) => {
        const c = summary.cells.find((x) => x.model === model && x.promptIndex === index && x.level === l);
        const mark = c && c.errors.timeout > 0 ? '†' : '';
        const ours = `<td>${c?.latencyS ? `${formatMeanSd(c.latencyS.mean, c.latencyS.sd)}${mark}` : '–'}</td>`;
        return compare ? [ours, `<td class="paper">${c?.paper ? `${c.paper.meanS} ± ${c.paper.sdS}` : '–'}</td>`] : [ours];
      });
      return `<tr><th scope="row">${esc(model)}</th>${cells.join('')}</tr>`;
    });
    return title + rows.join('');
  });
  return `<table class="data paper-form"><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`
    + '<p class="note">† some requests timed out; they count at the time waited, as in the paper (whose 300 ± 0 means every request timed out).</p>';
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0 auto;max-width:1180px;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}.panels{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}.panel{border:1px solid #eee;border-radius:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #e6e6e6;text-align:right;vertical-align:top}
th[scope=row],td:first-child{text-align:left}thead th{background:#f4f4f4;text-align:center}table.setup th{text-align:left;color:#444;font-weight:600}table.setup td{text-align:left}
tr.prompt th{text-align:left;background:#fafafa;font-weight:600}td.paper{color:#666}.note{color:#555;font-size:13px}
.warn{background:#fff4e5;border-left:4px solid #e69f00;padding:8px 12px}.fatal{background:#fdecea;border-left:4px solid #d55e00;padding:8px 12px}
dl{font-size:13px}dt{font-weight:600}dd{margin:0 0 6px 16px;color:#333}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}figure,table{break-inside:avoid}}
`;

/** A self-contained HTML report (inline SVG and CSS, no scripts, no network) of one load test. */
export function renderHtml(summary: LoadTestSummary, records: readonly LoadTestRecord[]): string {
  const s = summary.setup;
  const title = `Flexi load test${s ? ` — ${s.target}` : ''}`;
  const notices = [
    ...(summary.fatalError ? [`<p class="fatal">Stopped early: ${esc(summary.fatalError)}. The results below are partial.</p>`] : []),
    ...(summary.aborted && !summary.fatalError ? ['<p class="fatal">The run was interrupted; the results below are partial.</p>'] : []),
    ...summary.warnings.map((w) => `<p class="warn">${esc(w)}</p>`),
  ];
  const measured = records.filter((r) => !r.warmup).length;
  const compareNote = summary.compare === 'paper'
    ? '<p class="note">Grey dashed lines: the paper\'s Appendix A (Ollama on server B, 2 × A40), its five prompts pooled (mean of the prompt means; sd by the law of total variance).</p>' : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
<header><h1>${esc(title)}</h1>
<p class="sub">${s ? `${esc(s.startedAt.slice(0, 10))} · ${esc(s.models.join(', '))} · ${s.prompts.length} prompts · ` : ''}${measured} measured requests${s && s.timeScale !== 1 ? ` · simulated time ×${s.timeScale}` : ''}</p></header>
${notices.join('\n')}
<main>
<section><h2>Latency vs load, per model</h2>
<p class="note">End-to-end seconds per request, mean ± sd (error bars), all prompts pooled; time-outs count at the time waited.</p>${compareNote}
<div class="panels">${latencyPanels(summary)}</div></section>
<section><h2>Summary per model and level</h2>${modelTable(summary)}</section>
<section><h2>Time to first token</h2><figure>${ttftChart(summary, records)}</figure></section>
<section><h2>Throughput</h2><figure>${throughputChart(summary)}</figure>
<p class="note">Output tokens of successful requests divided by the wall time of the cells (first send → last finish).</p></section>
<section><h2>Per prompt, in the paper's form (Appendix A)</h2>${paperFormTable(summary)}</section>
<section><h2>Setup</h2>${setupTable(summary)}</section>
<section><h2>Definitions</h2><dl>${Object.entries(summary.definitions).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl></section>
</main>
<script type="application/json" id="flexi-summary">${JSON.stringify(summary).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
