import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'web/dist/', 'node_modules/', 'coverage/', 'data/', 'models/', 'bench/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only src/config/ reads process.env.' }],
    },
  },
  {
    files: ['src/config/**', 'test/**', 'bench/**', '**/*.test.ts', 'vitest.config.ts', 'bin/**', '.ci/**', 'web/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['web/**/*.{js,mjs,ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
