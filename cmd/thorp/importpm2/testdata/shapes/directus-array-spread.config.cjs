// Shape from github.com/directus/directus, ecosystem.config.cjs: a bare array of
// apps, args as a list, a conditional spread, ?? and ?. over process.env.
const telemetry = process.env.OTEL_ENABLED === 'true';

module.exports = [
	{
		name: 'directus',
		script: 'cli.js',
		args: ['start'],
		...(telemetry && { node_args: ['--import', './telemetry.js'] }),
		instances: process.env.PM2_INSTANCES ?? 'max',
		exec_mode: process.env.PM2_EXEC_MODE ?? 'cluster',
		max_memory_restart: process.env.PM2_MAX_MEMORY_RESTART ?? '1G',
		min_uptime: parseInt(process.env.PM2_MIN_UPTIME) || undefined,
		kill_timeout: process.env.PM2_KILL_TIMEOUT ?? 10000,
		wait_ready: true,
		restart_delay: process.env.PM2_RESTART_DELAY ?? 0,
		autorestart: ['1', 'true'].includes(process.env.PM2_AUTO_RESTART?.toLowerCase() ?? 'true'),
		env: { PORT: 8055 },
	},
];
