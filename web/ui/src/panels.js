// The side panel: node and edge details (with the edge's flows, page by page), findings, and analytics.
import { getJson } from './api.js';
import { h, bytes, count, time, severityBadge, table } from './dom.js';
import { edgeFilter, nodeFilter } from './filters.js';
import { rangeAndFilter } from './state.js';

const severityRank = { low: 1, medium: 2, high: 3, critical: 4 };

export function errorBox(message) {
  return h('p', { class: 'error', role: 'alert' }, message);
}

/** A node: its workloads, labels, top peers and ports from the current graph. */
export function nodeDetails(node, graph, workloads, actions) {
  const inbound = graph.edges.filter((e) => e.target === node.id);
  const outbound = graph.edges.filter((e) => e.source === node.id);
  const peers = [...outbound.map((e) => ({ dir: '→', id: e.target, e })), ...inbound.map((e) => ({ dir: '←', id: e.source, e }))]
    .sort((a, b) => b.e.bytes - a.e.bytes).slice(0, 10);
  const ports = new Map();
  for (const e of inbound) {
    for (const p of e.ports) ports.set(p, (ports.get(p) || 0) + e.flows);
  }
  const topPorts = [...ports.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const members = node.kind === 'unknown' || node.kind === 'internet'
    ? []
    : workloads.filter((w) => Object.entries(node.labels || {}).every(([k, v]) => {
      if (k === 'workload') return w.name === v;
      if (k === 'kind') return (w.kind || 'host') === v;
      if (k === 'address') return (w.addresses || []).includes(v);
      return (w.labels?.[k] ?? '') === v;
    }));

  return h('div', { class: 'details', dataset: { node: node.id } },
    h('h2', {}, node.id),
    h('p', { class: 'muted' }, `${node.kind}${node.workloads != null ? ` · ${count(node.workloads)} workload(s)` : ''}`),
    h('dl', { class: 'labels' }, Object.entries(node.labels || {}).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '∅')])),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: () => actions.reach(node, false) }, 'Blast radius'),
      h('button', { type: 'button', onclick: () => actions.reach(node, true) }, 'Who reaches it'),
      h('button', { type: 'button', onclick: () => actions.pathFrom(node) }, 'Paths from here…'),
      h('button', { type: 'button', onclick: () => actions.flows(nodeFilter(node), node.id) }, 'Its flows')),
    h('h3', {}, 'Top peers'),
    peers.length ? table(['', 'Peer', 'Flows', 'Bytes'], peers.map((p) => [p.dir, p.id, count(p.e.flows), bytes(p.e.bytes)]), { numeric: [2, 3] }) : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, 'Ports it serves'),
    topPorts.length ? h('p', {}, topPorts.map(([p, n]) => `${p} (${count(n)})`).join(', ')) : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, `Workloads (${members.length})`),
    members.length
      ? table(['Name', 'Kind', 'Addresses'], members.slice(0, 50).map((w) => [w.name, w.kind || 'host', (w.addresses || []).join(' ')]))
      : h('p', { class: 'muted' }, node.kind === 'workload' || node.kind === 'host' ? 'none in the inventory' : 'addresses without a workload'));
}

/** An edge: totals, first/last seen, findings, a policy part when given, and its flows (paged by the API's cursor). */
export function edgeDetails(edge, nodes, state, policy) {
  const source = nodes.get(edge.source);
  const target = nodes.get(edge.target);
  const filter = edgeFilter(source, target);
  const flowsBox = h('div', { class: 'flows', 'aria-live': 'polite' });
  const csv = new URLSearchParams(rangeAndFilter(state, filter));
  csv.set('format', 'csv');
  csv.set('all', 'true');
  const root = h('div', { class: 'details', dataset: { edge: `${edge.source} → ${edge.target}` } },
    h('h2', {}, `${edge.source} → ${edge.target}`),
    edge.findings.length
      ? h('p', { class: 'findings-line' }, severityBadge(edge.severity), ' ', edge.findings.join(', '))
      : h('p', { class: 'muted' }, 'no findings'),
    h('dl', { class: 'labels' },
      h('dt', {}, 'flows'), h('dd', {}, count(edge.flows)),
      h('dt', {}, 'bytes'), h('dd', {}, `${bytes(edge.bytes)} (${count(edge.bytes)})`),
      h('dt', {}, 'packets'), h('dd', {}, count(edge.packets)),
      h('dt', {}, 'ports'), h('dd', {}, `${edge.ports.join(', ')}${edge.portCount > edge.ports.length ? ` … (${edge.portCount})` : ''}`),
      h('dt', {}, 'first seen'), h('dd', {}, time(edge.firstSeen)),
      h('dt', {}, 'last seen'), h('dd', {}, time(edge.lastSeen))),
    policy || '',
    h('h3', {}, 'Flows ', h('a', { href: `/api/v1/flows?${csv}`, download: 'edge-flows.csv', class: 'small' }, 'CSV')),
    h('p', { class: 'muted filter-text' }, filter),
    flowsBox);
  loadFlows(flowsBox, rangeAndFilter(state, filter), null);
  return root;
}

/** One page of flows into a box, with a "next page" button while the API returns a cursor. */
export async function loadFlows(box, params, cursor, page = 1) {
  const query = new URLSearchParams(params);
  query.set('limit', '25');
  if (cursor) query.set('cursor', cursor);
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading flows…'));
  try {
    const result = await getJson('/api/v1/flows', query);
    const rows = result.flows.map((f) => [
      time(f.time).slice(11), f.event, `${f.srcIp}:${f.srcPort}`, `${f.dstIp}:${f.dstPort}`,
      bytes(Number(f.bytesOut) + Number(f.bytesIn)),
    ]);
    box.replaceChildren(
      rows.length ? table(['Time (UTC)', 'Event', 'Source', 'Destination', 'Bytes'], rows, { numeric: [4] }) : h('p', { class: 'muted' }, 'no flows in range'),
      h('div', { class: 'pager' },
        h('span', { class: 'muted' }, `page ${page}`),
        cursor ? h('button', { type: 'button', onclick: () => loadFlows(box, params, null, 1) }, 'First page') : '',
        result.next ? h('button', { type: 'button', class: 'next-page', onclick: () => loadFlows(box, params, result.next, page + 1) }, 'Next page') : ''));
  } catch (error) {
    box.replaceChildren(errorBox(`Flows: ${error.message}`));
  }
}

/** The findings list, newest first (then by severity); each jumps to its edge. */
export function findingsList(response, minSeverity, onPick) {
  const items = [...response.findings]
    .filter((f) => severityRank[f.severity] >= severityRank[minSeverity])
    .sort((a, b) => (b.lastSeen.localeCompare(a.lastSeen)) || (severityRank[b.severity] - severityRank[a.severity]));
  if (items.length === 0) return h('p', { class: 'muted' }, 'No findings in this range.');
  return h('ol', { class: 'finding-list' }, items.map((f) => h('li', {},
    h('button', { type: 'button', class: 'finding', onclick: () => onPick(f) },
      severityBadge(f.severity), ' ',
      h('strong', {}, f.kind.replace('_', ' ')), ' ',
      `${end(f.source)} → ${target(f)} ${f.service}`,
      h('span', { class: 'muted small' }, ` · ${measure(f)} · last ${time(f.lastSeen)}`)))));
}

// A blocked_attempts finding names one destination only when every attempt went to it.
function target(f) {
  const scan = f.blockedAttempts;
  if (scan && !f.destination.kind) return `${count(scan.destinations)} destinations`;
  return end(f.destination);
}

function measure(f) {
  const scan = f.blockedAttempts;
  if (!scan) return `${count(f.flows)} flows`;
  return `${count(scan.attempts)} refused attempts on ${count(scan.ports)} port(s)`;
}

function end(e) {
  if (e.kind === 'unknown' || e.kind === 'internet') return e.kind;
  return e.workload || Object.entries(e.labels || {}).map(([k, v]) => `${k}=${v}`).join(',');
}
