// Production build following the @grafana/create-plugin layout (Babel instead of its SWC loader): an AMD module.js that Grafana's SystemJS
// loader can consume, with React, rxjs and the @grafana/* packages left to the host (externals).
import CopyWebpackPlugin from 'copy-webpack-plugin';
import path from 'path';
import type { Configuration } from 'webpack';

const root = path.resolve(__dirname, '..', '..');
const pluginJson = require(path.join(root, 'src', 'plugin.json'));

// The packages Grafana shares with plugins at run time; bundling them would load a second React.
export const EXTERNALS: Configuration['externals'] = [
  'lodash',
  'jquery',
  'moment',
  'slate',
  'emotion',
  '@emotion/react',
  '@emotion/css',
  'prismjs',
  'react',
  'react-dom',
  'react/jsx-runtime',
  'react-redux',
  'redux',
  'rxjs',
  'rxjs/operators',
  'i18next',
  'react-router',
  'react-router-dom',
  'd3',
  'angular',
  /^@grafana\/ui/i,
  /^@grafana\/runtime/i,
  /^@grafana\/data/i,
  /^@grafana\/i18n/i,
];

// eslint-disable-next-line @typescript-eslint/no-var-requires
const babelOptions = require('../babel.js');

/** TypeScript/JSX through Babel (see .config/babel.js for why not SWC); node_modules are already built. */
export const scriptRule = {
  test: /\.[tj]sx?$/,
  exclude: /node_modules/,
  use: {
    loader: 'babel-loader',
    // Grafana 12.3+ runs in evergreen browsers only.
    options: { ...babelOptions('defaults and fully supports es6-module'), cacheDirectory: false },
  },
};

export default function config(env: Record<string, unknown> = {}): Configuration {
  const production = Boolean(env.production);
  return {
    mode: production ? 'production' : 'development',
    devtool: production ? 'source-map' : 'eval-source-map',
    context: path.join(root, 'src'),
    entry: { module: './module.ts' },
    externals: EXTERNALS,
    output: {
      path: path.join(root, 'dist'),
      filename: '[name].js',
      library: { type: 'amd' },
      // Grafana serves plugin assets from here; chunk loading needs it when the module is lazy.
      publicPath: `public/plugins/${pluginJson.id}/`,
      uniqueName: pluginJson.id,
      clean: true,
    },
    resolve: { extensions: ['.ts', '.tsx', '.js', '.jsx'] },
    module: { rules: [scriptRule] },
    performance: { hints: false },
    plugins: [
      new CopyWebpackPlugin({
        patterns: [
          {
            from: 'plugin.json',
            to: '.',
            // create-plugin fills these placeholders at build time.
            transform: (content: Buffer) =>
              content
                .toString()
                .replace('%VERSION%', require(path.join(root, 'package.json')).version)
                .replace('%TODAY%', new Date().toISOString().slice(0, 10)),
          },
          { from: 'img/*', to: '.' },
          { from: '../README.md', to: '.' },
          { from: '../CHANGELOG.md', to: '.' },
          { from: '../LICENSE', to: '.', noErrorOnMissing: true },
        ],
      }),
    ],
  };
}
