// Extend the create-plugin style base config here, not in .config/.
module.exports = {
  ...require('./.config/jest.config'),
};
