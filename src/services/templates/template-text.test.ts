import { describe, expect, it } from 'vitest';
import type { TemplateParameter } from '../../core/templates.js';
import { fillText, placeholdersOf, resolveParameters } from './template-text.js';

describe('template text', () => {
  it('finds placeholders with and without inner spaces, once each', () => {
    expect(placeholdersOf('{{a}} {{ b }} {{a}} {{ not valid }} {{1x}} {a}')).toEqual(['a', 'b']);
  });

  it('fills in one pass: a value that looks like a placeholder stays literal', () => {
    const values = new Map([['a', '{{b}}'], ['b', 'B']]);
    expect(fillText('{{a}}-{{b}}-{{c}}', values)).toBe('{{b}}-B-{{c}}');
  });

  it('inserts values literally, even those with replacement patterns ($&, $1)', () => {
    expect(fillText('x={{a}}', new Map([['a', '$& $1 $$']]))).toBe('x=$& $1 $$');
  });

  it('resolves defaults, optional blanks and typed values as text', () => {
    const parameters: TemplateParameter[] = [
      { name: 'n', type: 'integer', required: true }, { name: 'flag', type: 'boolean', required: false, default: false },
      { name: 'note', type: 'string', required: false },
    ];
    expect([...resolveParameters(parameters, { n: 3 })]).toEqual([['n', '3'], ['flag', 'false'], ['note', '']]);
    expect(() => resolveParameters(parameters, { n: 1.5 })).toThrow(/template_params.n' must be an integer/);
    expect(() => resolveParameters(parameters, { n: null })).toThrow(/template_params.n' is required/);
  });
});
