// A shape seen in public ecosystem files: the app picked by the git branch,
// read with child_process, which thorp's sandbox does not give.
const { execSync } = require('child_process');
const os = require('os');

function getCurrentBranch() {
    return execSync('git symbolic-ref --short HEAD').toString().trim();
}

module.exports = {
    apps: [{ name: `play_${getCurrentBranch()}`, script: './build/app.js', instances: os.cpus().length }],
};
