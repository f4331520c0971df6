/**
 * Whether a request's Host header names the dashboard itself: its bound
 * address, or a loopback name when bound to loopback, with its port. Any other
 * name is refused, so that a page of another site whose name was made to
 * resolve to 127.0.0.1 (DNS rebinding) cannot read the dashboard.
 */
export function isAllowedHost(host: string | undefined, bound: { address: string; port: number }): boolean {
  if (host === undefined) return false;
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (!m) return false;
  const name = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port !== bound.port) return false;
  const address = bound.address.toLowerCase();
  if (name === address) return true;
  const loopback = address === '127.0.0.1' || address === '::1' || address.startsWith('127.');
  return loopback && (name === 'localhost' || name === '127.0.0.1' || name === '::1');
}
