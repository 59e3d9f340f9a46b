// Policy colouring: each edge's decisions (allowed, potentially blocked, blocked, violation, unmanaged: what the
// provisioned rulesets say of its connections and refused attempts), drawn by the worst of them, and the edge
// panel's part that counts them and names the rules that allowed it.
import { h, count } from './dom.js';

/**
 * Decisions from the worst to the mildest. An edge is drawn by the worst it holds: a violation (declared enforced,
 * yet observed allowed) is the one that needs acting on, then traffic the network refused, then traffic the
 * provisioned policy would refuse, then traffic no ruleset governs, then allowed traffic.
 */
export const decisionOrder = ['violation', 'blocked', 'potentiallyBlocked', 'unmanaged', 'allowed'];

/** Colour and line per decision: line style and arrow differ too, so no decision is told by colour alone. */
export const decisionStyles = {
  violation: { color: '#bf3989', line: 'dashed', dash: [12, 3, 2, 3], arrow: 'triangle-cross', label: 'violation: enforced, no rule allows it, yet it got through', css: 'double' },
  blocked: { color: '#cf222e', line: 'dotted', arrow: 'tee', label: 'blocked: refused by the network', css: 'dotted' },
  potentiallyBlocked: { color: '#bc4c00', line: 'dashed', dash: [6, 3], arrow: 'triangle', label: 'potentially blocked: no rule allows it (visibility mode)', css: 'dashed' },
  unmanaged: { color: '#8c959f', line: 'solid', arrow: 'triangle', label: 'unmanaged: no provisioned ruleset governs it', css: 'solid' },
  allowed: { color: '#1a7f37', line: 'solid', arrow: 'triangle', label: 'allowed by a rule', css: 'solid' },
};

export const decisionNames = {
  violation: 'violation', blocked: 'blocked', potentiallyBlocked: 'potentially blocked', unmanaged: 'unmanaged', allowed: 'allowed',
};

/** The worst decision an edge holds (null when the graph came without decisions). */
export function worstDecision(edge) {
  const d = edge.decisions;
  if (!d) return null;
  return decisionOrder.find((k) => Number(d[k] || 0) > 0) || null;
}

/** The graph request's parameters for decisions: asked only in policy colouring (they cost a second look-up). */
export function decisionParams(params, state) {
  if (state.colour !== 'policy') return params;
  params.set('decisions', 'true');
  if (state.decisionsAt && state.decisionsAt !== 'now') params.set('decisionsAt', state.decisionsAt);
  return params;
}

/** Whether a graph answer carries decisions (a mode switch to policy needs them fetched otherwise). */
export function hasDecisions(graph) {
  return Boolean(graph && graph.edges.every((e) => e.decisions));
}

/** Cytoscape styles of policy colouring (edges carry class decision-<worst>). */
export function decisionCytoscapeStyles() {
  return decisionOrder.map((k) => {
    const s = decisionStyles[k];
    const style = {
      'line-color': s.color, 'target-arrow-color': s.color, 'target-arrow-shape': s.arrow, 'line-style': s.line, opacity: 1,
    };
    if (s.dash) style['line-dash-pattern'] = s.dash;
    if (k === 'unmanaged') style.opacity = 0.7;
    if (k !== 'allowed' && k !== 'unmanaged') style['z-index'] = 11;
    return { selector: `edge.decision-${k}`, style };
  });
}

/**
 * A selected edge keeps its decision's colour (the panel is about it) and gets a dark halo instead: these follow
 * the map's own :selected style, which would paint it black.
 */
export function decisionSelectedStyles() {
  return decisionOrder.map((k) => ({
    selector: `edge.decision-${k}:selected`,
    style: {
      'line-color': decisionStyles[k].color, 'target-arrow-color': decisionStyles[k].color,
      'underlay-color': '#1f2328', 'underlay-padding': 4, 'underlay-opacity': 0.35, 'underlay-shape': 'round-rectangle',
    },
  }));
}

/** The legend's entries in policy colouring, worst first. */
export const decisionLegendItems = decisionOrder.map((k) => ({
  cls: `decision-${k}`, label: decisionStyles[k].label, color: decisionStyles[k].color, line: decisionStyles[k].css, weight: 3,
}));

/** The edge panel's policy part: the decision counts, the rules that allowed it, the policies observed enforcing. */
export function decisionDetails(edge) {
  const d = edge.decisions;
  if (!d) return h('p', { class: 'muted', id: 'edge-decision' }, 'No decisions: switch the colouring to policy to see them.');
  const worst = worstDecision(edge);
  const total = decisionOrder.reduce((n, k) => n + Number(d[k] || 0), 0);
  return h('div', { class: 'decisions' },
    h('h3', {}, 'Policy'),
    h('p', { id: 'edge-decision', dataset: { decision: worst || '' } },
      worst ? h('span', { class: `decision-badge decision-${worst}` }, decisionNames[worst]) : 'no traffic',
      total ? ` · ${count(total)} connection(s) and attempt(s) judged; the edge shows the worst decision among them` : ''),
    h('table', { class: 'decision-counts' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Decision'), h('th', { scope: 'col', class: 'num' }, 'Count'))),
      h('tbody', {}, decisionOrder.map((k) => h('tr', { dataset: { decision: k } },
        h('td', {}, h('span', { class: `swatch swatch-${k}`, 'aria-hidden': 'true' }), ' ', decisionNames[k]),
        h('td', { class: 'num' }, count(d[k] || 0)))))),
    edge.blocked ? h('p', { class: 'small' }, `${count(edge.blocked)} refused attempt(s) observed.`) : '',
    h('h3', {}, 'Allowed by'),
    (edge.allowedBy || []).length
      ? h('ul', { class: 'allowed-by' }, edge.allowedBy.map((r) => h('li', {}, r)))
      : h('p', { class: 'muted allowed-by' }, 'no rule'),
    h('h3', {}, 'Observed enforcing policies'),
    (edge.observedPolicies || []).length
      ? h('ul', { class: 'observed-policies' }, edge.observedPolicies.map((p) => h('li', {}, p)))
      : h('p', { class: 'muted observed-policies' }, 'none reported by the flow source'));
}
