// Shape from github.com/azconcept-droid/fluentd, app-on-local/ecosystem.config.js:
// commas missing after cwd and args, so it does not parse.
module.exports = {
  apps: [{
    name: 'app',
    cwd: "app"
    script: 'npm', // or your entry file
    args: "run start"
    instances: 1,
    autorestart: true,
  }]
};
