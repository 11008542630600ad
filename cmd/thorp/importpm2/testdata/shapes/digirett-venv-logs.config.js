// Shape from github.com/Vineesh02/Digirett_AI, ecosystem.config.js: a virtualenv's
// python as the script with interpreter none, out, error and combined logs, time.
module.exports = {
  apps: [{
    name: 'ingestion',
    script: './venv/bin/python',
    args: 'src/main.py --batch 64',
    interpreter: 'none',
    autorestart: true,
    watch: false,
    max_memory_restart: '1G',
    env: { NODE_ENV: 'production' },
    error_file: './logs/pm2-error.log',
    out_file: './logs/pm2-out.log',
    log_file: './logs/pm2-combined.log',
    time: true,
  }],
};
