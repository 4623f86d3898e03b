// Entry point for `webpack -c ./webpack.config.ts`; the shared config lives in .config/ as in create-plugin.
import config from './.config/webpack/webpack.config';

export default config;
