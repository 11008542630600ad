// A shape seen in public ecosystem files: no config for this branch is an error.
const branchConfigs = { main: { cwd: '/home/ubuntu/Main' } };
const branchName = process.env.BRANCH || 'feature';
const currentConfig = branchConfigs[branchName];

if (!currentConfig) {
    throw new Error(`No configuration found for branch: ${branchName}`);
}
module.exports = { apps: [{ name: 'app', script: 'app.js', cwd: currentConfig.cwd }] };
