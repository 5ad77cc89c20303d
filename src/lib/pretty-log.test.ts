import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { formatLogLine, prettyDestination } from './pretty-log.js';

describe('pretty log lines', () => {
  it('turns pino JSON into time, level, message and key=value fields, without pid or hostname', () => {
    const time = new Date(2026, 10, 27, 9, 5, 7, 42).getTime();
    const line = JSON.stringify({ level: 40, time, pid: 1, hostname: 'h', msg: 'node probe failed', node: 'gpu1', error: 'connect ECONNREFUSED', tries: 3 });
    expect(formatLogLine(line, false)).toBe('09:05:07.042 WARN  node probe failed node=gpu1 error="connect ECONNREFUSED" tries=3\n');
  });

  it('colours the level and fields for a terminal, puts stacks below, and passes non-JSON through', () => {
    const colored = formatLogLine(JSON.stringify({ level: 50, time: 0, msg: 'request failed', stack: 'Error: boom\n    at x (y.js:1:1)' }), true);
    expect(colored).toContain('\x1b[31mERROR');
    expect(colored.split('\n')).toEqual([expect.stringContaining('request failed'), '    Error: boom', '        at x (y.js:1:1)', '']);
    expect(formatLogLine('not json', false)).toBe('not json\n');
  });

  it('works as a pino destination: objects, arrays and levels come out readable', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, prettyDestination({ write: (chunk) => lines.push(chunk) }, false));
    logger.info({ url: 'http://127.0.0.1:8400', models: ['tiny:latest'] }, 'Flexi is serving');
    logger.debug('hidden');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}Flexi is serving url=http:\/\/127\.0\.0\.1:8400 models=\["tiny:latest"\]\n$/);
  });
});
