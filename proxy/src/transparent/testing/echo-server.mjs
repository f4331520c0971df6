// The workload of the transparent-mode tests: on each port given, it answers a
// connection with everything the connection sent, once the client half-closes.
import net from 'node:net';

const ports = process.argv.slice(2).map(Number);
let ready = 0;
for (const port of ports) {
  net
    .createServer({ allowHalfOpen: true }, (socket) => {
      const chunks = [];
      socket.on('data', (d) => chunks.push(d));
      socket.on('end', () => socket.end(Buffer.concat(chunks)));
      socket.on('error', () => socket.destroy());
    })
    .listen(port, '::', () => {
      if (++ready === ports.length) console.log(JSON.stringify({ event: 'listening', ports }));
    });
}
process.on('SIGTERM', () => process.exit(0));
