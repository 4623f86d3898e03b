// Jest base config in the create-plugin layout: jsdom + Babel, CSS imports stubbed.
const path = require('path');

// ESM-only packages reached from @grafana/* (13.1 and 13.2) under jsdom's "browser" export condition.
const ESM_MODULES = [
  '@grafana/schema/dist/esm',
  '@kusto/monaco-kusto',
  '@react-hookz/web',
  '@ver0/deep-equal',
  '@wojtekmaj/date-utils',
  'color-name',
  'color-parse',
  'color-rgba',
  'color-space',
  'd3',
  'd3-[a-z-]+',
  'earcut',
  'get-user-locale',
  'internmap',
  'marked',
  'memoize',
  'mimic-function',
  'monaco-promql',
  'ol',
  'pbf',
  'quickselect',
  'rbush',
  'react-calendar',
  'react-colorful',
  'robust-predicates',
  'rxjs',
  'uuid',
];

module.exports = {
  rootDir: path.resolve(__dirname, '..'),
  testEnvironment: 'jsdom',
  // Rendering hundreds of @grafana/ui rows in jsdom is slow on a busy 2-core CI machine.
  testTimeout: 30000,
  testMatch: ['<rootDir>/src/**/*.test.{ts,tsx}', '<rootDir>/tests/**/*.test.{ts,tsx}'],
  setupFilesAfterEnv: ['<rootDir>/.config/jest/setup.ts'],
  moduleNameMapper: {
    '\\.(css|scss|sass)$': '<rootDir>/.config/jest/style-stub.js',
  },
  transform: {
    '^.+\\.(mjs|cjs|[tj]sx?)$': ['babel-jest', require('./babel')({ node: 'current' })],
  },
  // @grafana/* ship CommonJS builds, but some of their dependencies are ESM-only under jsdom's "browser"
  // export condition; those few are compiled like our own code.
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_MODULES.join('|')})/)`],
};
