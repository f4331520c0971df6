// An unmodified HTTP client: `node http-client.mjs <url> [<name>:<value>...]`
// sends one GET with those headers and prints {status, headers, body} as one
// JSON line. It knows nothing of any proxy.
import http from 'node:http';

const [url, ...headerArgs] = process.argv.slice(2);
const headers = Object.fromEntries(headerArgs.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1)]));
const req = http.get(url, { headers, agent: false, timeout: 10_000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (body += c));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, headers: res.headers, body })));
});
req.on('timeout', () => {
  console.error('timed out');
  process.exit(2);
});
req.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
