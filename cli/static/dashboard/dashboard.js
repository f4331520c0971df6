// meshbus dashboard: renders the view the CLI pushes over Server-Sent Events. Plain DOM.
'use strict';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? '' : String(c)));
  return node;
}

function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))));
}

function fill(id, ...nodes) {
  const body = document.querySelector(`#${id} .body`);
  body.replaceChildren(...(nodes.length ? nodes : [el('span', { class: 'muted' }, 'nothing yet')]));
}

const ms = (v) => (v === undefined ? '-' : v === null ? '>max' : `${v.toFixed(1)}ms`);
const pct = (v) => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`);

function sparkline(values) {
  const ns = 'http://www.w3.org/2000/svg';
  const w = 90, h = 18;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

function renderServices(services) {
  fill('services', ...services.map((s) => {
    const box = el('div', { class: 'service', 'data-service': `${s.namespace}/${s.name}` }, el('h3', {}, `${s.name}.${s.namespace}`));
    if (s.identities.length) box.append(el('div', { class: 'muted' }, `identities: ${s.identities.join(', ')}`));
    if (s.routes.length) box.append(el('div', { class: 'muted' }, `routes: ${s.routes.join(', ')}`));
    for (const p of s.ports) {
      box.append(el('div', {}, `port ${p.port}${p.portName ? ` (${p.portName})` : ''}${p.opaque ? ' opaque' : ''}: ${p.total} endpoint${p.total === 1 ? '' : 's'}`));
      const rows = p.endpoints.map((e) => [e.address, e.port, e.zone ?? '-', e.ready ? 'yes' : 'no', e.identity ?? 'not meshed']);
      if (rows.length) box.append(table(['ADDRESS', 'PORT', 'ZONE', 'READY', 'IDENTITY'], rows));
      if (p.total > p.endpoints.length) box.append(el('div', { class: 'muted' }, `+${p.total - p.endpoints.length} more`));
    }
    return box;
  }));
}

function renderWorkloads(workloads) {
  fill('workloads', ...(workloads.length ? [table(['WORKLOAD', 'ADDRESS', 'PORTS', 'SA', 'ZONE', 'READY', 'MESHED'], workloads.map((w) => [`${w.namespace}/${w.name}`, w.address, w.ports, w.serviceAccount ?? '-', w.zone ?? '-', w.ready ? 'yes' : 'no', w.meshed ? 'yes' : 'no']))] : []));
}

function metricTable(title, rows) {
  return [el('h3', {}, title), rows.length ? table(['NAME', 'SUCCESS', 'RPS', 'P50', 'P95', 'P99', 'RPS (5m)'], rows.map((r) => [r.name, pct(r.successRate), r.rps.toFixed(2), ms(r.p50), ms(r.p95), ms(r.p99), sparkline(r.history.map((p) => p.rps))])) : el('div', { class: 'muted' }, 'no traffic summaries')];
}

function renderMetrics(m) {
  fill('metrics', el('div', { class: 'muted' }, `over the last ${m.windowMs / 1000}s`), ...metricTable('By workload (inbound)', m.byWorkload), ...metricTable('By service (outbound)', m.byService), ...metricTable('By route (inbound)', m.byRoute));
}

function renderPolicies(p) {
  const nodes = [];
  if (p.defaults) nodes.push(el('div', {}, `cluster default: ${p.defaults.policy} (${p.defaults.meaning})`), ...p.defaults.namespaces.map((n) => el('div', {}, `namespace ${n.namespace}: ${n.policy} (${n.meaning})`)));
  for (const w of p.workloads) {
    nodes.push(el('h3', {}, `${w.namespace}/${w.workload} (default ${w.defaultPolicy})`), table(['PORT', 'SERVER', 'ROUTE', 'AUTHORIZATION', 'NETWORKS', 'CLIENTS'], w.entries.map((e) => [e.port, e.server, e.route, e.authorization ?? 'none: refused', e.networks ?? '-', e.clients ?? '-'])));
  }
  if (p.rejected.length) nodes.push(el('h3', { class: 'bad' }, 'Refused resources'), table(['RESOURCE', 'FILE', 'REASON'], p.rejected.map((r) => [`${r.kind} ${r.namespace}/${r.name}`, r.file, r.reason])));
  fill('policies', ...nodes);
}

function renderEvents(events) {
  fill('events', ...(events.length ? [table(['TIME', 'TYPE', 'SUBJECT', 'SUMMARY'], events.map((e) => [e.time, e.type.replace(/^io\.meshbus\.v1\./, ''), e.subject, e.summary]))] : []));
}

// Tap: the page asks the CLI for one workload's requests over /api/tap (a tap session runs while the stream is open).
const tapColumns = ['TIME', 'DIR', 'METHOD', 'AUTHORITY', 'PATH', 'STATUS', 'LATENCY', 'CLIENT → SERVER', 'TLS'];
const maxTapRows = 200;
let tapForm;
let tapSource;

function shortIdentity(identity) {
  if (!identity) return '-';
  const m = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\./.exec(identity);
  return m ? `${m[2]}/${m[1]}` : identity;
}

function tapRow(r) {
  const self = shortIdentity(r.identity);
  const peer = shortIdentity(r.peerIdentity);
  const time = typeof r.startedAt === 'string' ? r.startedAt.replace(/^.*T/, '').replace(/Z$/, '') : '';
  return el('tr', { class: 'tap-record' }, ...[
    time,
    r.direction === 'inbound' ? 'in' : 'out',
    r.method,
    r.authority,
    r.path,
    r.status === 0 ? '-' : r.status,
    `${r.latencyMs}ms`,
    r.direction === 'inbound' ? `${peer} → ${self}` : `${self} → ${peer}`,
    r.tls ? 'tls' : 'plain',
  ].map((c) => el('td', {}, c)));
}

function stopTap() {
  if (tapSource) tapSource.close();
  tapSource = undefined;
}

function startTap(form, notice, rows) {
  stopTap();
  const q = new URLSearchParams();
  for (const name of ['workload', 'path', 'method', 'authority']) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (!q.get('workload')) {
    notice.textContent = 'name a workload: <namespace>/<service account>';
    return;
  }
  rows.replaceChildren();
  notice.textContent = 'starting…';
  const source = new EventSource(`/api/tap?${q}`);
  tapSource = source;
  source.addEventListener('tap', (m) => {
    rows.prepend(tapRow(JSON.parse(m.data)));
    while (rows.childNodes.length > maxTapRows) rows.lastChild.remove();
  });
  source.addEventListener('notice', (m) => {
    notice.textContent = JSON.parse(m.data);
  });
  source.addEventListener('error', () => {
    // A refused request (bad filter) or a stopped CLI: do not retry on our own.
    if (tapSource !== source) return;
    source.close();
    tapSource = undefined;
    notice.textContent = 'tap ended: the filter was refused (namespace/workload as DNS labels, path starting with /, method in letters) or meshbus dashboard stopped';
  });
}

function renderTap(tap, workloads) {
  if (!tap.available) {
    fill('tap', el('span', { class: 'muted' }, 'tap not available'));
    return;
  }
  if (!tapForm) {
    const input = (name, placeholder, attrs) => el('input', { name, placeholder, ...(attrs || {}) });
    tapForm = el('form', { id: 'tap-form' },
      input('workload', 'namespace/workload', { list: 'tap-workloads', required: 'required' }),
      input('path', 'path prefix'),
      input('method', 'method', { size: '7' }),
      input('authority', 'authority'),
      el('button', { type: 'submit' }, 'start'),
      el('button', { type: 'button', id: 'tap-stop' }, 'stop'),
      el('datalist', { id: 'tap-workloads' }));
    const notice = el('div', { id: 'tap-notice', class: 'muted' }, 'metadata of live requests; a tap session runs while this page listens');
    const rows = el('tbody', {});
    tapForm.addEventListener('submit', (e) => {
      e.preventDefault();
      startTap(tapForm, notice, rows);
    });
    tapForm.querySelector('#tap-stop').addEventListener('click', () => {
      stopTap();
      notice.textContent = 'stopped';
    });
    fill('tap', tapForm, notice, el('table', {}, el('thead', {}, el('tr', {}, ...tapColumns.map((h) => el('th', {}, h)))), rows));
  }
  const names = [...new Set(workloads.filter((w) => w.serviceAccount).map((w) => `${w.namespace}/${w.serviceAccount}`))].sort();
  tapForm.querySelector('#tap-workloads').replaceChildren(...names.map((n) => el('option', { value: n })));
}

function render(view) {
  renderServices(view.services);
  renderWorkloads(view.workloads);
  renderMetrics(view.metrics);
  renderPolicies(view.policies);
  renderEvents(view.events);
  renderTap(view.tap, view.workloads);
  document.getElementById('status').textContent = `live, ${view.time}`;
}

const stream = new EventSource('/api/stream');
stream.addEventListener('view', (m) => render(JSON.parse(m.data)));
stream.addEventListener('error', () => {
  document.getElementById('status').textContent = 'disconnected, retrying…';
});
