/**
 * Checkmk local checks (docs.checkmk.com, "Local checks"): one service per line,
 * `<status> <service name> <metrics> <status detail>`, status 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN;
 * metrics `name=value;warn;crit;min;max` joined with `|`, or `-`.
 */

export type CheckState = 0 | 1 | 2 | 3;

export const STATE_NAMES: Record<CheckState, string> = { 0: 'OK', 1: 'WARN', 2: 'CRIT', 3: 'UNKNOWN' };

export interface Thresholds {
  warn: number;
  crit: number;
}

export interface CheckMetric {
  /** Prefixed `flexi_` so it cannot clash with Checkmk's own metric names. */
  name: string;
  value: number;
  thresholds?: Thresholds;
  min?: number;
  max?: number;
}

export interface LocalCheck {
  state: CheckState;
  service: string;
  metrics: CheckMetric[];
  detail: string;
}

/** State of one value against upper thresholds (at or above `crit`: CRIT; at or above `warn`: WARN). */
export function stateOf(value: number, thresholds: Thresholds): CheckState {
  if (value >= thresholds.crit) return 2;
  if (value >= thresholds.warn) return 1;
  return 0;
}

/** The worst of several states; UNKNOWN only when nothing is worse than it. */
export function worst(states: readonly CheckState[]): CheckState {
  let result: CheckState = 0;
  for (const state of states) {
    if (state === 2) return 2;
    if (state === 1) result = 1;
    else if (state === 3 && result === 0) result = 3;
  }
  return result;
}

/** A check whose state is the worst of its metrics' states (or `state` when given). */
export function checkFromMetrics(service: string, metrics: CheckMetric[], detail: string, state?: CheckState): LocalCheck {
  const derived = worst(metrics.map((m) => (m.thresholds ? stateOf(m.value, m.thresholds) : 0)));
  return { state: state === undefined ? derived : worst([state, derived]), service, metrics, detail };
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '0';
  return String(Math.round(value * 1000) / 1000);
}

function formatMetric(metric: CheckMetric): string {
  const fields = [
    number(metric.value),
    metric.thresholds ? number(metric.thresholds.warn) : '',
    metric.thresholds ? number(metric.thresholds.crit) : '',
    metric.min === undefined ? '' : number(metric.min),
    metric.max === undefined ? '' : number(metric.max),
  ];
  while (fields.length > 1 && fields.at(-1) === '') fields.pop();
  return `${metric.name.replace(/[^a-zA-Z0-9_]/g, '_')}=${fields.join(';')}`;
}

/** One local-check line. Service names are quoted (they contain spaces); details lose real newlines. */
export function formatLocalCheck(check: LocalCheck): string {
  const service = `"${check.service.replace(/["\r\n]/g, '')}"`;
  const metrics = check.metrics.length === 0 ? '-' : check.metrics.map(formatMetric).join('|');
  const detail = `${STATE_NAMES[check.state]} - ${check.detail}`.replace(/\r?\n/g, ' ');
  return `${check.state} ${service} ${metrics} ${detail}`;
}

/** The agent section: the header Checkmk's agent prints before local checks, then one line per service. */
export function formatLocalChecks(checks: readonly LocalCheck[], options: { header?: boolean } = {}): string {
  const lines = checks.map(formatLocalCheck);
  return `${options.header ? '<<<local:sep(0)>>>\n' : ''}${lines.join('\n')}\n`;
}
