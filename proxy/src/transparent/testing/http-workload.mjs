// A workload of the end-to-end transparent-mode tests, unaware of any proxy:
// `node http-workload.mjs <name> <httpPort> [<tcpPort>...]`. On the HTTP port it
// answers every request with one JSON line: its name, the request line and the
// headers it received. On each TCP port it answers each line a connection
// sends with `<name> echoes <line>`.
import http from 'node:http';
import net from 'node:net';

const [name, httpPort, ...tcpPorts] = process.argv.slice(2);
let pending = 1 + tcpPorts.length;
const listening = () => {
  if (--pending === 0) console.log(JSON.stringify({ event: 'listening', name, httpPort: Number(httpPort), tcpPorts: tcpPorts.map(Number) }));
};

http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ name, method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers })}\n`);
    });
  })
  .listen(Number(httpPort), '::', listening);

for (const port of tcpPorts) {
  net
    .createServer({ allowHalfOpen: true }, (socket) => {
      let pending = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        pending += d;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          socket.write(`${name} echoes ${pending.slice(0, nl)}\n`);
          pending = pending.slice(nl + 1);
        }
      });
      // A client that ends its side gets one more line, written only after the end reached the workload.
      socket.on('end', () => socket.end(`${name} saw the end\n`));
      socket.on('error', () => socket.destroy());
    })
    .listen(Number(port), '::', listening);
}
process.on('SIGTERM', () => process.exit(0));
