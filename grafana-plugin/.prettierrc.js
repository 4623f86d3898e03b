// The panel uses the repository's Prettier settings (../.prettierrc.json): one style for both packages,
// the same as Grafana's create-plugin defaults (single quotes, 120 columns, ES5 trailing commas).
module.exports = require('../.prettierrc.json');
