// Shape from github.com/Lucianotassara/wa-bot, ecosystem.config.js: a node
// version pinned as interpreter 'node@14.15.5', an empty node_args, fork mode.
module.exports = {
  apps: [{
    name: 'wa-bot',
    script: './index.js',
    interpreter: 'node@14.15.5',
    args: '--update-env',
    node_args: '',
    instances: 1,
    autorestart: false,
    watch: false,
    exec_mode: 'fork',
    max_memory_restart: '1G',
    env: { NODE_ENV: 'desa' },
    env_production: { NODE_ENV: 'prod' },
  }],
};
