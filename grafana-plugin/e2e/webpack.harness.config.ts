// Bundles the browser harness: unlike the plugin build, React and @grafana/* are bundled (there is no Grafana
// host), and @grafana/runtime is replaced by a fetch-backed shim.
import path from 'path';
import type { Configuration } from 'webpack';
import { scriptRule } from '../.config/webpack/webpack.config';

const root = path.resolve(__dirname, '..');

const config: Configuration = {
  mode: 'production',
  devtool: false,
  context: root,
  entry: { harness: './e2e/harness.tsx' },
  output: { path: path.join(root, 'e2e', 'dist'), filename: '[name].js', clean: true },
  resolve: {
    extensions: ['.ts', '.tsx', '.js', '.jsx', '.mjs'],
    alias: { '@grafana/runtime$': path.join(root, 'e2e', 'runtime-shim.ts') },
  },
  module: {
    rules: [
      scriptRule,
      { test: /\.css$/, type: 'asset/source' },
      // Some ESM packages import without extensions.
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
    ],
  },
  // Minifying several MB of @grafana/ui buys nothing for a local test page and costs a minute.
  optimization: { minimize: false },
  performance: { hints: false },
};

export default config;
