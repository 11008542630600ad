// A shape seen in public ecosystem files: a log path made with fs.
const fs = require('fs');
const path = require('path');
const fileLog = path.join(__dirname, 'data', 'logs', 'pm2.log');
if (!fs.existsSync(fileLog)) {
  fs.writeFileSync(fileLog, '');
}
module.exports = { apps: [{ name: 'app', script: 'index.js', log_file: fileLog }] };
