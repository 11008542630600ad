// Shape from github.com/sentaurus/simpul-chat-server, ecosystem.config.js: a bash
// script under the bash interpreter, a lower-case env name.
module.exports = {
	apps: [
		{
			name: 'config-management',
			script: './start.sh',
			interpreter: 'bash',
			instances: 1,
			autorestart: true,
			watch: false,
			max_memory_restart: '1G',
			env: {
				port: 8006,
			},
		},
	],
};
