// The dependency map: Cytoscape.js with environments as compound boxes, edge width by bytes or flows, and
// cross-environment, unknown and internet flows styled apart (colour and line style, so not by colour alone).
import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { largeGraphNodes, layoutOptions } from './layout-options.js';
import { canKeep, placeNew } from './placement.js';
import { decisionCytoscapeStyles, decisionLegendItems, decisionSelectedStyles, worstDecision } from './decisions.js';

cytoscape.use(fcose);

export const palette = {
  normal: '#8c959f',
  crossEnv: '#cf222e',
  unknown: '#bc4c00',
  internet: '#8250df',
  newEdge: '#0969da',
  selected: '#1f2328',
  highlight: '#1a7f37',
  blocked: '#24292f',
};

export const legendItems = [
  { cls: 'cross-env', label: 'cross-environment (e.g. dev → prod)', color: palette.crossEnv, line: 'solid', weight: 4 },
  { cls: 'from-unknown', label: 'from an unknown internal address', color: palette.unknown, line: 'dashed', weight: 3 },
  { cls: 'from-internet', label: 'from the internet', color: palette.internet, line: 'dotted', weight: 3 },
  { cls: 'new-edge', label: 'new edge (first seen in range)', color: palette.newEdge, line: 'solid', weight: 2 },
  { cls: '', label: 'other flows (width: bytes or flows)', color: palette.normal, line: 'solid', weight: 2 },
];

/** The legend of a colouring: findings (above) or policy decisions. */
export function legendFor(colour) {
  return colour === 'policy' ? decisionLegendItems : legendItems;
}

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
        // Drawing order is explicit: group boxes, then edges, then nodes (so boxes never cover edges).
        'z-index-compare': 'manual',
        'z-index': 20,
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
    {
      selector: 'node.box',
      style: {
        width: 'data(bw)', height: 'data(bh)', events: 'no', 'z-index': 0,
        'border-width': 2, 'min-zoomed-font-size': 0, 'font-size': 28, 'text-margin-y': -6,
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
        'z-index-compare': 'manual',
        'z-index': 10,
      },
    },
    { selector: 'edge.new-edge', style: { 'line-color': palette.newEdge, 'target-arrow-color': palette.newEdge } },
    { selector: 'edge.from-internet', style: { 'line-color': palette.internet, 'target-arrow-color': palette.internet, 'line-style': 'dotted', opacity: 1 } },
    { selector: 'edge.from-unknown', style: { 'line-color': palette.unknown, 'target-arrow-color': palette.unknown, 'line-style': 'dashed', opacity: 1 } },
    { selector: 'edge.cross-env', style: { 'line-color': palette.crossEnv, 'target-arrow-color': palette.crossEnv, 'line-style': 'solid', opacity: 1, 'z-index': 11 } },
    ...decisionCytoscapeStyles(),
    { selector: ':selected', style: { 'border-color': palette.selected, 'border-width': 4, 'line-color': palette.selected, 'target-arrow-color': palette.selected, opacity: 1, 'z-index': 21 } },
    ...decisionSelectedStyles(),
    { selector: '.faded', style: { opacity: 0.12 } },
    { selector: 'node.hl', style: { 'border-color': palette.highlight, 'border-width': 4, opacity: 1 } },
    { selector: 'edge.blocked', style: { 'line-color': palette.blocked, 'target-arrow-color': palette.blocked, 'line-style': 'dashed', width: 6, opacity: 1, 'z-index': 13 } },
    { selector: 'edge.hl', style: { 'line-color': palette.highlight, 'target-arrow-color': palette.highlight, opacity: 1, 'z-index': 12 } },
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

/** Classes an edge carries in policy colouring: its worst decision. */
export function policyClasses(edge) {
  const worst = worstDecision(edge);
  return worst ? [`decision-${worst}`] : [];
}

/**
 * Cytoscape elements for a graph response, coloured by findings or (colour 'policy') by decisions. Environments
 * become compound parents when env is grouped (small graphs); large graphs get each node's group instead, for a
 * per-group layout and drawn boxes (see render).
 */
export function elements(graph, groupKeys, width, large, colour = 'findings') {
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
    const group = byEnv && !external && env !== undefined ? `env:${env}` : undefined;
    if (group) envs.add(env);
    const classes = [n.kind];
    if (colour !== 'policy' && flagged.has(n.id)) classes.push('has-finding');
    const data = { id: n.id, label: nodeLabel(n, groupKeys) };
    if (group) data[large ? 'group' : 'parent'] = group;
    result.push({ group: 'nodes', data, classes: classes.join(' ') });
  }
  if (!large) {
    for (const env of envs) {
      result.push({ group: 'nodes', data: { id: `env:${env}`, label: env || '(no env)' }, classes: `env env-${env}` });
    }
  }
  const metric = width === 'flows' ? 'flows' : 'bytes';
  let max = 1;
  for (const e of graph.edges) max = Math.max(max, e[metric]);
  graph.edges.forEach((e, i) => {
    const w = 1 + 7 * (Math.log1p(e[metric]) / Math.log1p(max));
    result.push({
      group: 'edges',
      data: { id: `e${i}`, source: e.source, target: e.target, w: Math.round(w * 100) / 100 },
      classes: (colour === 'policy' ? policyClasses(e) : edgeClasses(e, kinds.get(e.source))).join(' '),
    });
  });
  return result;
}

/** Background boxes for the groups of a large graph: one per group, around its nodes, behind everything. */
function groupBoxes(els, positions) {
  const bounds = new Map();
  for (const el of els) {
    const group = el.data.group;
    const p = positions[el.data.id];
    if (!group || !p) continue;
    const b = bounds.get(group) || { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    bounds.set(group, { x1: Math.min(b.x1, p.x), y1: Math.min(b.y1, p.y), x2: Math.max(b.x2, p.x), y2: Math.max(b.y2, p.y) });
  }
  const pad = 40;
  return [...bounds.entries()].map(([group, b]) => {
    const env = group.slice(4);
    return {
      group: 'nodes',
      data: { id: group, label: env || '(no env)', bw: b.x2 - b.x1 + 2 * pad, bh: b.y2 - b.y1 + 2 * pad },
      position: { x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 },
      classes: `env box env-${env}`,
      selectable: false,
      grabbable: false,
    };
  });
}

export class MapView {
  constructor(container, { onNode, onEdge, onBackground }) {
    this.container = container;
    this.handlers = { onNode, onEdge, onBackground };
    this.cy = null;
    this.generation = 0;
    // Started now, so the worker's module is loaded while the page fetches its first graph.
    this.worker = this.spawnWorker();
    this.workerBusy = false;
  }

  spawnWorker() {
    if (typeof Worker === 'undefined') return null;
    return new Worker(new URL('./layout-worker.js', import.meta.url), { type: 'module' });
  }

  /**
   * Draws a graph; resolves with timings once it is laid out and painted. Nodes already on the map keep their
   * positions (and the view its zoom and pan): a refresh, another range or width, or another colouring (findings
   * or policy) redraws without a layout, placing new nodes only (placement.js). A map that is mostly new is laid
   * out afresh.
   */
  async render(graph, groupKeys, width, colour = 'findings') {
    const generation = ++this.generation;
    const nodeCount = graph.nodes.length;
    const large = nodeCount > largeGraphNodes || graph.edges.length > 1500;
    const els = elements(graph, groupKeys, width, large, colour);
    this.nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
    this.edgeById = new Map(graph.edges.map((e, i) => [`e${i}`, e]));
    const started = performance.now();
    const previous = this.drawnPositions();
    const members = els.filter((e) => e.group === 'nodes' && !e.classes.split(' ').includes('env'))
      .map((e) => ({ id: e.data.id, group: e.data.parent || e.data.group || '' }));
    // Another grouping is another map, even where some ids (internet, unknown) are the same.
    const kept = groupKeys.join(',') === this.groupedBy && canKeep(previous, members);
    // pad: how far a drawn box reaches beyond its nodes (groupBoxes' 40 px, the style's 12 px padding, the border).
    const positions = kept
      ? placeNew(previous, members, els.filter((e) => e.group === 'edges').map((e) => e.data), { spacing: large ? 50 : 70, pad: 60 })
      : await this.layout(els, nodeCount, large);
    if (generation !== this.generation) return null;
    const layoutMs = performance.now() - started;
    this.groupedBy = groupKeys.join(',');

    const viewport = kept && this.cy ? { zoom: this.cy.zoom(), pan: { ...this.cy.pan() } } : null;
    if (this.cy) this.cy.destroy();
    const building = performance.now();
    for (const el of els) {
      if (el.group === 'nodes' && positions[el.data.id]) el.position = positions[el.data.id];
    }
    // Large graphs are added in slices, a frame apart, so the page keeps answering input while they load.
    const edgeEls = large ? els.filter((e) => e.group === 'edges') : [];
    const first = large ? [...groupBoxes(els, positions), ...els.filter((e) => e.group === 'nodes')] : els;
    const cy = cytoscape({
      container: this.container,
      elements: first,
      style: styles(large),
      layout: { name: 'preset', fit: !viewport, padding: 30 },
      hideEdgesOnViewport: large,
      textureOnViewport: large,
      pixelRatio: large ? 1 : 'auto',
      motionBlur: false,
      minZoom: 0.05,
      maxZoom: 4,
      boxSelectionEnabled: false,
    });
    if (viewport) cy.viewport(viewport);
    this.cy = cy;
    cy.on('tap', 'node', (evt) => {
      if (evt.target.hasClass('env')) return;
      this.handlers.onNode(this.nodeById.get(evt.target.id()));
    });
    cy.on('tap', 'edge', (evt) => this.handlers.onEdge(this.edgeById.get(evt.target.id()), evt.target.id()));
    cy.on('tap', (evt) => {
      if (evt.target === cy) this.handlers.onBackground();
    });
    const slice = 2000;
    for (let i = 0; i < edgeEls.length; i += slice) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (generation !== this.generation) return null;
      cy.add(edgeEls.slice(i, i + slice));
    }
    const built = performance.now();
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return {
      layoutMs, buildMs: built - building, paintMs: performance.now() - built, totalMs: performance.now() - started,
      layout: kept ? 'kept' : 'fresh',
    };
  }

  /** Where each node of the drawn map is (model coordinates, as the user may have dragged it); boxes left out. */
  drawnPositions() {
    const positions = new Map();
    if (!this.cy) return positions;
    this.cy.nodes().not('.env').forEach((n) => { positions.set(n.id(), { ...n.position() }); });
    return positions;
  }

  /** Each node's position on the page canvas (rendered pixels) and in the model: what a test checks stability by. */
  nodePositions() {
    if (!this.cy) return [];
    return this.cy.nodes().not('.env').map((n) => {
      const r = n.renderedPosition();
      return { id: n.id(), x: r.x, y: r.y, mx: n.position('x'), my: n.position('y') };
    });
  }

  layout(els, nodeCount, large) {
    const message = large
      ? {
        byGroup: true,
        nodes: els.filter((e) => e.group === 'nodes').map((e) => ({ id: e.data.id, group: e.data.group })),
        edges: els.filter((e) => e.group === 'edges').map((e) => ({ source: e.data.source, target: e.data.target })),
      }
      : {
        nodeCount,
        elements: els.map((e) => ({ group: e.group, data: { id: e.data.id, source: e.data.source, target: e.data.target, parent: e.data.parent } })),
      };
    return new Promise((resolve) => {
      const fallback = () => {
        // Without a worker: one layout on the page (groups are then not tiled, only compound-nested when small).
        const plain = els.map((e) => ({ group: e.group, data: { id: e.data.id, source: e.data.source, target: e.data.target, parent: large ? undefined : e.data.parent } }));
        const cy = cytoscape({ headless: true, styleEnabled: true, style: [{ selector: 'node', style: { width: 36, height: 36 } }], elements: plain });
        cy.layout(layoutOptions(nodeCount)).run();
        const positions = {};
        cy.nodes().forEach((n) => { positions[n.id()] = n.position(); });
        resolve(positions);
      };
      if (this.workerBusy && this.worker) {
        // A newer graph replaces a layout still running: that worker's answer is no longer wanted.
        this.worker.terminate();
        this.worker = this.spawnWorker();
      }
      const worker = this.worker || this.spawnWorker();
      this.worker = worker;
      if (!worker) {
        fallback();
        return;
      }
      this.workerBusy = true;
      worker.onmessage = ({ data }) => {
        if (this.worker === worker) this.workerBusy = false;
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
        if (this.worker === worker) {
          this.worker = null;
          this.workerBusy = false;
        }
        fallback();
      };
      worker.postMessage(message);
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

  /** Selects the edge between two node ids where it is, without moving the view; false when the map has none. */
  selectEdge(source, target) {
    if (!this.cy) return false;
    const edge = this.cy.edges().filter((e) => e.data('source') === source && e.data('target') === target);
    if (edge.empty()) return false;
    this.cy.elements().unselect();
    edge.select();
    return true;
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

  /** Zooms to a node at once (no animation), as a user zooming in on it would. */
  zoomTo(id, zoom = 2) {
    const node = this.cy?.getElementById(id);
    if (!node || node.empty()) return false;
    this.cy.zoom(zoom);
    this.cy.center(node);
    return true;
  }

  /** Where each group's box is and where its nodes are (model coordinates): what a test checks the layout by. */
  groupLayout() {
    const boxes = [];
    const nodes = [];
    if (!this.cy) return { boxes, nodes };
    this.cy.nodes('.env').forEach((b) => {
      const bb = b.boundingBox({ includeLabels: false, includeOverlays: false });
      boxes.push({ env: b.id().slice(4), x1: bb.x1, y1: bb.y1, x2: bb.x2, y2: bb.y2 });
    });
    this.cy.nodes().not('.env').forEach((n) => {
      const env = this.nodeById.get(n.id())?.labels?.env;
      if (env !== undefined) nodes.push({ id: n.id(), env, x: n.position('x'), y: n.position('y') });
    });
    return { boxes, nodes };
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
    if (this.cy) this.cy.elements().removeClass('faded hl blocked');
  }

  /** Marks the edges a policy would block (dashed, dark) and fades the rest; returns how many were on the map. */
  markBlocked(edgePairs) {
    if (!this.cy) return 0;
    this.clearHighlight();
    const pairs = new Set(edgePairs.map(([s, t]) => `${s}\u0000${t}`));
    let marked = 0;
    this.cy.batch(() => {
      this.cy.edges().forEach((e) => {
        if (pairs.has(`${e.data('source')}\u0000${e.data('target')}`)) {
          e.addClass('blocked');
          marked++;
        } else {
          e.addClass('faded');
        }
      });
    });
    return marked;
  }
}
