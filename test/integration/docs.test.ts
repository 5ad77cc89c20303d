import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOCS } from '../../src/cli/gen-docs.js';
import { ERROR_CATALOG } from '../../src/core/errors.js';

describe('generated docs', () => {
  it.each(Object.entries(DOCS))('%s is up to date (run `npm run docs` after changing its source)', (path, render) => {
    expect(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')).toBe(render());
  });

  it('documents every error code', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ERROR_CATALOG)) expect(doc).toContain(`| \`${code}\` |`);
  });
});
