import { loadPaperTable4 } from '../data/paper.js';
import { baseModelName } from './model-facts.js';
import { QUALITY_COLUMNS, type Catalog, type CatalogEntry } from './build-catalog.js';

/** Plain-text tables of the catalog for the terminal; `--json` prints the Catalog itself. */

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function two(value: number | undefined | null): string {
  return value === undefined || value === null ? '–' : value.toFixed(2).replace(/^0\./, '.');
}

function mark(entry: CatalogEntry, measured: boolean): string {
  return measured ? '*' : '';
}

function bytes(value: number | undefined): string {
  return value === undefined ? '–' : `${(value / 1e9).toFixed(1)} GB`;
}

export function renderCatalog(catalog: Catalog): string {
  const rows = catalog.models.map((m) => {
    const quality = QUALITY_COLUMNS.map((c) => (m.quality[c] ? `${two(m.quality[c]!.value)}${m.quality[c]!.source.startsWith('flexi') ? '*' : ''}` : '–'));
    return [
      m.model, m.deployed ? m.nodes.join(',') : '–', m.parameters?.value ?? '–', m.quantization ?? '–', m.contextTokens ? String(m.contextTokens.value) : '–',
      m.licence?.value ?? '–', m.openness === 'osi_licence' ? 'OSI' : m.openness === 'restricted_licence' ? 'restricted' : '?',
      m.languages ? m.languages.value.join(' ') : '–', ...quality,
      m.throughput ? `${m.throughput.value.toFixed(0)}${mark(m, m.throughput.measured)}` : '–',
      m.latency?.e2eS !== undefined ? `${m.latency.e2eS.toFixed(1)} s*` : '–',
      m.safety ? `${(m.safety.value * 100).toFixed(0)} %*` : '–', bytes(m.memoryBytes),
    ];
  });
  const parts = [
    table(['MODEL', 'NODES', 'PARAMS', 'QUANT', 'CONTEXT', 'LICENCE', 'OPEN', 'LANG', 'ARC', 'HS', 'MMLU', 'TQA', 'WG', 'GSM8K', 'TOK/S', 'E2E', 'SAFE', 'MEMORY'], rows),
    '* measured on this deployment (flexi eval / bench / loadtest / probe); other values published (paper Tables 3–4, model cards).\n',
  ];
  for (const rec of catalog.recommendations) {
    const w = rec.weights;
    parts.push(`\n${rec.useCase} (quality ${w.quality}, speed ${w.speed}, safety ${w.safety}, german ${w.german}, openness ${w.openness}${w.minTokensPerS ? `, ≥ ${w.minTokensPerS} tok/s` : ''}):\n`);
    rec.ranking.slice(0, 5).forEach((r, i) => {
      const note = r.excluded ? ` — not recommended: ${r.excluded}` : r.missing.length ? ` — no evidence for ${r.missing.join(', ')}` : '';
      parts.push(`  ${r.excluded ? '-' : `${i + 1}.`} ${r.model.padEnd(24)} ${r.score.toFixed(3)}${note}\n`);
    });
  }
  if (catalog.unreadableFiles.length) parts.push(`\nwarning: could not read ${catalog.unreadableFiles.join(', ')}\n`);
  return parts.join('');
}

/** The paper's Table 4 with this deployment's measured decode rate (and quality, where evaluated) beside it. */
export function renderPaperComparison(catalog: Catalog): string {
  const rows = loadPaperTable4().map((paper) => {
    const here = catalog.models.filter((m) => baseModelName(m.model) === paper.model);
    const measured = here.find((m) => m.throughput?.measured);
    const evaluated = here.find((m) => Object.values(m.quality).some((q) => q.source.startsWith('flexi')));
    const measuredQuality = evaluated ? Object.values(evaluated.quality).filter((q) => q.source.startsWith('flexi')) : [];
    return [
      paper.model, ...QUALITY_COLUMNS.map((c) => two(paper[c])), two(paper.average), String(paper.tokensPerSecond),
      measured ? measured.throughput!.value.toFixed(1) : '–', measured ? measured.model : '–',
      measuredQuality.length ? `${two(measuredQuality.reduce((a, q) => a + q.value, 0) / measuredQuality.length)} (${measuredQuality.length})` : '–',
    ];
  });
  return `${table(['MODEL', 'ARC', 'HS', 'MMLU', 'TQA', 'WG', 'GSM8K', 'AVG', 'PAPER TOK/S', 'HERE TOK/S', 'HERE AS', 'HERE QUALITY (n tasks)'], rows)}`
    + "Paper: Table 4 (Open LLM Leaderboard scores; tokens/s by ollama-benchmark on server B). Here: newest `flexi bench --save` result under the results folder, and `flexi eval` scores.\n";
}
