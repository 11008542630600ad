// The HTTP app of `make compare`, the same under thorp, PM2 and supervisord:
// answers every request with its pid, listens on 127.0.0.1:$PORT (under
// PM2's cluster mode the workers share it through the master), and on
// SIGINT or SIGTERM stops accepting, finishes what it accepted and exits.
const http = require('http');

const server = http.createServer((req, res) => res.end(String(process.pid)));
server.listen(Number(process.env.PORT), '127.0.0.1');

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 4000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
