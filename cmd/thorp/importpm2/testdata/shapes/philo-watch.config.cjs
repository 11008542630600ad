// Shape from github.com/Phoscur/philo, ecosystem.config.cjs: watch = true with
// watch_delay, globs in ignore_watch, chokidar's watch_options, a top-level env.
module.exports = {
  apps: [
    {
      name: 'philopho',
      script: 'dist/main.js',
      node_args: '--env-file=.env',
      watch: true,
      time: true,
      watch_delay: 1000,
      ignore_watch: ['node_modules', 'src', 'stora*', 'sun*', 'ecosystem.config.cjs', 'README.md'],
      watch_options: {
        followSymlinks: false,
      },
    },
  ],
  env: {
    PM2_HOME: '~/philo',
  },
};
