// An unmodified client: connects to host:port, sends a line, half-closes and
// prints what came back as one JSON line. It knows nothing of the proxy.
import net from 'node:net';

const [host, port, text] = process.argv.slice(2);
const socket = net.connect({ host, port: Number(port), allowHalfOpen: true }, () => socket.end(`${text}\n`));
const chunks = [];
socket.on('data', (d) => chunks.push(d));
socket.on('end', () => {
  console.log(JSON.stringify({ reply: Buffer.concat(chunks).toString() }));
  socket.destroy();
});
socket.setTimeout(10_000, () => {
  console.error('timed out');
  process.exit(2);
});
socket.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
