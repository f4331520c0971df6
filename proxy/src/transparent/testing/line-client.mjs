// An unmodified TCP client: `node line-client.mjs <host> <port> <text>` connects,
// sends one line, waits for one line back and prints it as {reply} (JSON). It
// keeps its side open until the answer, as request/response protocols do.
import net from 'node:net';

const [host, port, text] = process.argv.slice(2);
const socket = net.connect({ host, port: Number(port) }, () => socket.write(`${text}\n`));
let reply = '';
socket.setEncoding('utf8');
socket.on('data', (d) => {
  reply += d;
  if (reply.includes('\n')) {
    console.log(JSON.stringify({ reply }));
    socket.destroy();
  }
});
socket.on('close', () => {
  if (!reply.includes('\n')) {
    console.error(`closed before a reply (got ${JSON.stringify(reply)})`);
    process.exit(3);
  }
});
socket.setTimeout(10_000, () => {
  console.error('timed out');
  process.exit(2);
});
socket.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
