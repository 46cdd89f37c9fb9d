import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';

const forbidden = (names, message) =>
  names.map((name) => ({ name, message })).concat(names.map((name) => ({ name: `${name}/*`, message })));

export default ts.config(
  { ignores: ['dist/', 'node_modules/', '.data/', 'coverage/'] },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    files: ['src/**'],
    ignores: ['src/transport/mqtt-transport.ts', 'src/storage/idb-store.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbidden(
            ['mqtt', 'idb'],
            'Only src/transport/mqtt-transport.ts imports mqtt; only src/storage/idb-store.ts imports idb.',
          ),
        },
      ],
    },
  },
  // The dependency direction (README "Layout"): protocol <- core <- state <- ui.
  {
    files: ['src/protocol/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbidden(['svelte', 'mqtt', 'idb'], 'src/protocol is pure: no svelte, mqtt or idb.'),
          patterns: ['**/core/*', '**/state/*', '**/ui/*', '**/transport/*', '**/storage/*'],
        },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'localStorage', 'indexedDB'],
    },
  },
  {
    files: ['src/core/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbidden(['svelte', 'mqtt', 'idb'], 'src/core is UI-free and adapter-free.'),
          patterns: ['**/state/*', '**/ui/*', '**/transport/mqtt-transport*', '**/storage/idb-store*'],
        },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'localStorage', 'indexedDB'],
    },
  },
);
