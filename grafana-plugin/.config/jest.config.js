// Jest base config in the create-plugin layout: jsdom + Babel, CSS imports stubbed.
const path = require('path');

const ESM_MODULES = ['@wojtekmaj/date-utils', 'mimic-function', 'memoize', 'get-user-locale', 'react-calendar', 'marked', 'ol', 'd3', 'd3-[a-z-]+', 'internmap', 'robust-predicates', 'uuid', 'react-colorful', 'rxjs', 'monaco-promql', '@kusto/monaco-kusto', 'earcut', 'pbf', 'rbush', 'quickselect', 'color-space', 'color-rgba', 'color-parse', 'color-name', '@grafana/schema/dist/esm'];

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
