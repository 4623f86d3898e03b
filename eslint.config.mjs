// Lint for the node package (nodes/, scripts/, test/, bin/) and the Grafana panel (grafana-plugin/src).
// typescript-eslint's recommended rules, without type information (fast enough to run on every CI), plus
// the few house rules the reviews kept asking for.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
// layout is Prettier's job (.prettierrc.json, checked by `npm run lint`): switch off the rules that would argue with it
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'grafana-plugin/dist/**',
      'grafana-plugin/node_modules/**',
      'test-artifacts/**',
      '**/*.html',
      'grafana-plugin/.config/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
        URL: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        Response: 'readonly',
        window: 'readonly',
        document: 'readonly',
        navigator: 'readonly',
        HTMLElement: 'readonly',
        requestAnimationFrame: 'readonly',
        cancelAnimationFrame: 'readonly',
        ResizeObserver: 'readonly',
        localStorage: 'readonly',
        globalThis: 'readonly',
      },
    },
    rules: {
      // unused arguments are part of Node-RED's and Express's callback signatures; prefix them with _
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
  {
    // Node-RED's own idiom: a node constructor keeps `this` as `node` for its callbacks
    files: ['nodes/*/*.ts'],
    rules: { '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    // Tests and benches load the built nodes from dist/ with require(), as Node-RED does, and drive
    // node-red-node-test-helper, which has no types
    files: ['test/**/*.ts', 'grafana-plugin/src/**/*.test.ts', 'grafana-plugin/src/**/*.test.tsx'],
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // CommonJS scripts and settings (Node-RED loads settings.js with require)
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier
);
