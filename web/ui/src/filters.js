// Builds filter-language text for map elements, so "show this edge's flows" asks the API exactly for them.

export function quote(value) {
  return `"${String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const groupField = { address: 'ip', workload: 'workload', kind: 'kind' };

/** The filter matching one end (src or dst) of flows in a node's group. */
export function sideFilter(side, node) {
  if (node.kind === 'unknown' || node.kind === 'internet') {
    return `${side}.kind = ${node.kind}`;
  }
  const parts = Object.entries(node.labels || {}).map(([key, value]) => {
    const field = groupField[key] || key;
    return `${side}.${field} = ${quote(value)}`;
  });
  return parts.join(' and ');
}

/** The filter matching the flows of an edge between two nodes. */
export function edgeFilter(source, target) {
  return [sideFilter('src', source), sideFilter('dst', target)].filter(Boolean).join(' and ');
}

/** The filter matching flows with a node at either end. */
export function nodeFilter(node) {
  const src = sideFilter('src', node);
  const dst = sideFilter('dst', node);
  return src && dst ? `(${src}) or (${dst})` : '';
}

/** The node id a finding's end falls in under the current grouping, as the graph API builds ids. */
export function nodeIdOf(end, groupKeys) {
  if (end.kind === 'unknown' || end.kind === 'internet') return end.kind;
  return groupKeys.map((key) => {
    let value;
    if (key === 'workload') value = end.workload;
    else if (key === 'kind') value = end.kind;
    else value = (end.labels || {})[key] ?? '';
    return `${key}=${value}`;
  }).join(',');
}
