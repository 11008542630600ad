// Shape from github.com/TerriaJS/TerriaMap, ecosystem.config.js: the script found
// with require.resolve, which searches node_modules on the file system.
const path = require('path');

module.exports = {
  apps: [{
    name: path.basename(__dirname),
    script: require.resolve('terriajs-server'),
    instances: 1,
  }],
};
