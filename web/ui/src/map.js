// The dependency map: Cytoscape.js with environments as compound boxes, edge width by bytes or flows, and
// cross-environment, unknown and internet flows styled apart (colour and line style, so not by colour alone).
import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { layoutOptions } from './layout-options.js';

cytoscape.use(fcose);

export const palette = {
  normal: '#8c959f',
  crossEnv: '#cf222e',
  unknown: '#bc4c00',
  internet: '#8250df',
  newEdge: '#0969da',
  selected: '#1f2328',
  highlight: '#1a7f37',
};

export const legendItems = [
  { cls: 'cross-env', label: 'cross-environment (e.g. dev → prod)', color: palette.crossEnv, line: 'solid', weight: 4 },
  { cls: 'from-unknown', label: 'from an unknown internal address', color: palette.unknown, line: 'dashed', weight: 3 },
  { cls: 'from-internet', label: 'from the internet', color: palette.internet, line: 'dotted', weight: 3 },
  { cls: 'new-edge', label: 'new edge (first seen in range)', color: palette.newEdge, line: 'solid', weight: 2 },
  { cls: '', label: 'other flows (width: bytes or flows)', color: palette.normal, line: 'solid', weight: 2 },
];

function styles(large) {
  return [
    {
      selector: 'node',
      style: {
        'background-color': '#ffffff',
        'border-width': 2,
        'border-color': '#57606a',
        label: 'data(label)',
        'font-size': 11,
        color: '#1f2328',
        'text-valign': 'bottom',
        'text-margin-y': 3,
        'min-zoomed-font-size': large ? 9 : 0,
        width: 28,
        height: 28,
        shape: 'round-rectangle',
      },
    },
    {
      selector: 'node.env',
      style: {
        'background-color': '#f6f8fa',
        'border-color': '#8c959f',
        'border-style': 'solid',
        'text-valign': 'top',
        'text-halign': 'center',
        'font-weight': 'bold',
        'font-size': 13,
        'text-margin-y': -4,
        shape: 'round-rectangle',
        padding: 12,
      },
    },
    { selector: 'node.env.env-prod', style: { 'background-color': '#fff8f5', 'border-color': '#cf222e' } },
    { selector: 'node.unknown', style: { shape: 'ellipse', 'border-style': 'dashed', 'border-color': palette.unknown } },
    { selector: 'node.internet', style: { shape: 'diamond', 'border-color': palette.internet, 'border-width': 3 } },
    { selector: 'node.has-finding', style: { 'border-color': palette.crossEnv, 'border-width': 3 } },
    {
      selector: 'edge',
      style: {
        width: 'data(w)',
        'line-color': palette.normal,
        'target-arrow-color': palette.normal,
        'target-arrow-shape': large ? 'none' : 'triangle',
        'curve-style': large ? 'haystack' : 'bezier',
        'arrow-scale': 0.8,
        opacity: large ? 0.55 : 0.85,
      },
    },
    { selector: 'edge.new-edge', style: { 'line-color': palette.newEdge, 'target-arrow-color': palette.newEdge } },
    { selector: 'edge.from-internet', style: { 'line-color': palette.internet, 'target-arrow-color': palette.internet, 'line-style': 'dotted', opacity: 1 } },
    { selector: 'edge.from-unknown', style: { 'line-color': palette.unknown, 'target-arrow-color': palette.unknown, 'line-style': 'dashed', opacity: 1 } },
    { selector: 'edge.cross-env', style: { 'line-color': palette.crossEnv, 'target-arrow-color': palette.crossEnv, 'line-style': 'solid', opacity: 1, 'z-index': 10 } },
    { selector: ':selected', style: { 'border-color': palette.selected, 'border-width': 4, 'line-color': palette.selected, 'target-arrow-color': palette.selected, opacity: 1, 'z-index': 20 } },
    { selector: '.faded', style: { opacity: 0.12 } },
    { selector: 'node.hl', style: { 'border-color': palette.highlight, 'border-width': 4, opacity: 1 } },
    { selector: 'edge.hl', style: { 'line-color': palette.highlight, 'target-arrow-color': palette.highlight, opacity: 1, 'z-index': 15 } },
  ];
}

/** Classes an edge carries, from its findings and its source's kind. */
export function edgeClasses(edge, sourceKind) {
  const classes = [];
  const findings = edge.findings || [];
  if (edge.crossEnv || findings.includes('cross_env')) classes.push('cross-env');
  if (sourceKind === 'internet' || findings.includes('internet_source')) classes.push('from-internet');
  if (sourceKind === 'unknown' || findings.includes('unknown_source')) classes.push('from-unknown');
  if (findings.includes('new_edge')) classes.push('new-edge');
  return classes;
}

function nodeLabel(node, groupKeys) {
  if (node.kind === 'unknown' || node.kind === 'internet') return node.id;
  const shown = groupKeys.filter((k) => k !== 'env' || groupKeys.length === 1);
  return shown.map((k) => node.labels?.[k] || '∅').join(' · ') || node.id;
}

/** Cytoscape elements for a graph response; environments become compound parents when env is grouped. */
export function elements(graph, groupKeys, width) {
  const byEnv = groupKeys.includes('env') && groupKeys.length > 1;
  const result = [];
  const envs = new Set();
  const kinds = new Map();
  const flagged = new Set();
  for (const e of graph.edges) {
    if ((e.findings || []).length > 0) flagged.add(e.target);
  }
  for (const n of graph.nodes) {
    kinds.set(n.id, n.kind);
    const env = n.labels?.env;
    const external = n.kind === 'unknown' || n.kind === 'internet';
    const parent = byEnv && !external && env !== undefined ? `env:${env}` : undefined;
    if (parent) envs.add(env);
    const classes = [n.kind];
    if (flagged.has(n.id)) classes.push('has-finding');
    result.push({ group: 'nodes', data: { id: n.id, label: nodeLabel(n, groupKeys), parent, node: n }, classes: classes.join(' ') });
  }
  for (const env of envs) {
    result.push({ group: 'nodes', data: { id: `env:${env}`, label: env || '(no env)' }, classes: `env env-${env}` });
  }
  const metric = width === 'flows' ? 'flows' : 'bytes';
  const max = Math.max(1, ...graph.edges.map((e) => e[metric]));
  graph.edges.forEach((e, i) => {
    const w = 1 + 7 * (Math.log1p(e[metric]) / Math.log1p(max));
    result.push({
      group: 'edges',
      data: { id: `e${i}`, source: e.source, target: e.target, w: Number(w.toFixed(2)), edge: e },
      classes: edgeClasses(e, kinds.get(e.source)).join(' '),
    });
  });
  return result;
}

export class MapView {
  constructor(container, { onNode, onEdge, onBackground }) {
    this.container = container;
    this.handlers = { onNode, onEdge, onBackground };
    this.cy = null;
    this.worker = null;
    this.generation = 0;
  }

  /** Draws a graph; resolves with timings once it is laid out and painted. */
  async render(graph, groupKeys, width) {
    const generation = ++this.generation;
    const els = elements(graph, groupKeys, width);
    const nodeCount = graph.nodes.length;
    const large = graph.edges.length > 1500 || nodeCount > 600;
    const started = performance.now();
    const positions = await this.layout(els, nodeCount);
    if (generation !== this.generation) return null;
    const layoutMs = performance.now() - started;

    if (this.cy) this.cy.destroy();
    const cy = cytoscape({
      container: this.container,
      elements: els,
      style: styles(large),
      layout: { name: 'preset', positions: (n) => positions[n.id()] || { x: 0, y: 0 }, fit: true, padding: 30 },
      hideEdgesOnViewport: large,
      textureOnViewport: large,
      pixelRatio: large ? 1 : 'auto',
      motionBlur: false,
      minZoom: 0.05,
      maxZoom: 4,
      boxSelectionEnabled: false,
    });
    this.cy = cy;
    cy.on('tap', 'node', (evt) => {
      if (evt.target.hasClass('env')) return;
      this.handlers.onNode(evt.target.data('node'));
    });
    cy.on('tap', 'edge', (evt) => this.handlers.onEdge(evt.target.data('edge'), evt.target.id()));
    cy.on('tap', (evt) => {
      if (evt.target === cy) this.handlers.onBackground();
    });
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return { layoutMs, totalMs: performance.now() - started };
  }

  layout(els, nodeCount) {
    const plain = els.map((e) => ({ group: e.group, data: { id: e.data.id, source: e.data.source, target: e.data.target, parent: e.data.parent } }));
    return new Promise((resolve) => {
      const fallback = () => {
        const cy = cytoscape({ headless: true, styleEnabled: true, style: [{ selector: 'node', style: { width: 36, height: 36 } }], elements: plain });
        cy.layout(layoutOptions(nodeCount)).run();
        const positions = {};
        cy.nodes().forEach((n) => { positions[n.id()] = n.position(); });
        resolve(positions);
      };
      if (typeof Worker === 'undefined') {
        fallback();
        return;
      }
      if (this.worker) this.worker.terminate();
      const worker = new Worker(new URL('./layout-worker.js', import.meta.url), { type: 'module' });
      this.worker = worker;
      worker.onmessage = ({ data }) => {
        worker.terminate();
        if (this.worker === worker) this.worker = null;
        if (data.error) {
          console.warn('layout worker failed, laying out on the page', data.error);
          fallback();
        } else {
          resolve(data.positions);
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        worker.terminate();
        fallback();
      };
      worker.postMessage({ elements: plain, nodeCount });
    });
  }

  /** Selects and centres an edge between two node ids; false when the map has none. */
  focusEdge(source, target) {
    if (!this.cy) return false;
    const edge = this.cy.edges().filter((e) => e.data('source') === source && e.data('target') === target);
    if (edge.empty()) return false;
    this.cy.elements().unselect();
    edge.select();
    this.cy.animate({ center: { eles: edge }, zoom: Math.max(this.cy.zoom(), 1) }, { duration: 250 });
    return edge.first();
  }

  focusNode(id) {
    if (!this.cy) return false;
    const node = this.cy.getElementById(id);
    if (node.empty()) return false;
    this.cy.elements().unselect();
    node.select();
    this.cy.animate({ center: { eles: node } }, { duration: 250 });
    return node;
  }

  /** Where an element is drawn, in page coordinates (for keyboard-less automation and tests that click it). */
  pagePoint(selector) {
    if (!this.cy) return null;
    const el = selector.edge
      ? this.cy.edges().filter((e) => e.data('source') === selector.edge[0] && e.data('target') === selector.edge[1]).first()
      : this.cy.getElementById(selector.node);
    if (!el || el.empty()) return null;
    const box = this.container.getBoundingClientRect();
    const p = el.isEdge() ? el.renderedMidpoint() : el.renderedPosition();
    return { x: box.left + p.x, y: box.top + p.y };
  }

  /** Highlights node ids and the edges among them (a blast radius or paths); fades the rest. */
  highlight(nodeIds, edgePairs) {
    if (!this.cy) return;
    this.clearHighlight();
    const ids = new Set(nodeIds);
    const pairs = new Set(edgePairs.map(([s, t]) => `${s}\u0000${t}`));
    this.cy.batch(() => {
      this.cy.elements().addClass('faded');
      this.cy.nodes().forEach((n) => {
        if (ids.has(n.id()) || n.hasClass('env')) n.removeClass('faded');
        if (ids.has(n.id())) n.addClass('hl');
      });
      this.cy.edges().forEach((e) => {
        if (pairs.has(`${e.data('source')}\u0000${e.data('target')}`)) e.removeClass('faded').addClass('hl');
      });
    });
  }

  clearHighlight() {
    if (this.cy) this.cy.elements().removeClass('faded hl');
  }
}
