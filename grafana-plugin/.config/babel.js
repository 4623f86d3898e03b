// One Babel setup for webpack and Jest. SWC would be faster, but @swc/core's per-platform binaries are
// optional dependencies that a registry mirror may lack, which makes `npm ci` reject the lock file; Babel is
// plain JavaScript. preset-env's `modules: 'auto'` keeps ESM for webpack (tree shaking) and emits CommonJS
// for Jest, following what each caller declares.
module.exports = function babelOptions(targets) {
  return {
    babelrc: false,
    configFile: false,
    presets: [
      ['@babel/preset-env', { targets, modules: 'auto', bugfixes: true }],
      ['@babel/preset-react', { runtime: 'automatic' }],
      '@babel/preset-typescript',
    ],
  };
};
