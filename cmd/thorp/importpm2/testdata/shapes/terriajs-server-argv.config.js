// Shape from github.com/TerriaJS/terriajs-server, ecosystem.config.js: the name
// from path.basename(__dirname), args passed through from process.argv after --.
/*global __dirname*/
const path = require('path');

const argpos = process.argv.indexOf('--');
const args = argpos > -1 ? process.argv.slice(argpos + 1) : [];

module.exports = {
  apps: [{
    name: path.basename(__dirname),
    script: 'lib/app.js',
    args: args.join(' '),
    instances: 1,
    autorestart: true,
    watch: false,
    max_memory_restart: '1G',
    env: { NODE_ENV: 'development' },
    env_production: { NODE_ENV: 'production' },
  }],
};
