// A tiny TCP interceptor for the transparent-mode tests: it accepts redirected
// connections, reads each one's original destination, connects there, writes
// one tag line ahead of the client's bytes, and pipes both ways. It prints one
// JSON line per connection to stdout. It runs from the built package (dist/).
import net from 'node:net';
import { originalDestination } from '../../../dist/transparent/original-destination.js';

const [port, tag] = process.argv.slice(2);
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  let dst;
  try {
    dst = originalDestination(client);
  } catch (err) {
    console.log(JSON.stringify({ tag, error: err.code ?? String(err) }));
    client.destroy();
    return;
  }
  console.log(JSON.stringify({ tag, event: 'accepted', from: `${client.remoteAddress}:${client.remotePort}`, dst: `${dst.address}:${dst.port}` }));
  const upstream = net.connect({ host: dst.address, port: dst.port, allowHalfOpen: true });
  // Written before any of the client's bytes: a socket queues writes until it connects.
  upstream.write(`${tag} saw ${dst.address}:${dst.port}\n`);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  upstream.on('error', close);
  client.on('error', close);
});
// '::' takes IPv4 too, as IPv4-mapped addresses: both getsockopt paths are used.
server.listen(Number(port), '::', () => console.log(JSON.stringify({ tag, event: 'listening', port: Number(port), uid: process.getuid() })));
process.on('SIGTERM', () => { server.close(); process.exit(0); });
