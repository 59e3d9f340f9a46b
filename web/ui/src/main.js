// The map page: reads its state from the URL, asks the API, draws the map and fills the side panel.
import './style.css';
import { apiKey, downloadWithKey, getJson, sendJson, setApiKey, takeKeyFromUrl } from './api.js';
import { h, count } from './dom.js';
import { attach } from './complete.js';
import { legendFor, MapView } from './map.js';
import { nodeIdOf } from './filters.js';
import { decisionDetails, decisionNames, decisionOrder, decisionParams, hasDecisions, worstDecision } from './decisions.js';
import { allowBox } from './allow.js';
import { edgeDetails, errorBox, findingsList, loadFlows, nodeDetails } from './panels.js';
import * as State from './state.js';
import { PolicyPanel } from './policy.js';

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('controls'), range: $('range'), custom: $('custom-range'), from: $('from'), to: $('to'),
  groupBy: $('groupBy'), filter: $('filter'), filterError: $('filter-error'), width: $('width'),
  colourFindings: $('colour-findings'), colourPolicy: $('colour-policy'), decisionsAt: $('decisionsAt'), decisionsAtLabel: $('decisions-at-label'),
  views: $('views'), save: $('save-view'), csv: $('export-csv'), status: $('status'), legend: $('legend'),
  details: $('details'), findings: $('findings'), analytics: $('analytics'), policy: $('policy'),
};

// What tests and the layout benchmark read: timings and counts of the last drawn map.
const probe = { ready: false, layoutMs: null, renderMs: null, nodes: 0, edges: 0, renders: 0, error: null };
window.visibilityMap = probe;
probe.edgePoint = (source, target) => map.pagePoint({ edge: [source, target] });
probe.nodePoint = (id) => map.pagePoint({ node: id });
probe.edgeList = () => (map.cy ? map.cy.edges().map((e) => ({
  source: e.data('source'), target: e.data('target'), classes: e.classes(), color: e.style('line-color'), selected: e.selected(),
})) : []);
probe.nodeIds = () => (map.cy ? map.cy.nodes().not('.env').map((n) => n.id()) : []);
probe.groupLayout = () => map.groupLayout();
probe.nodePositions = () => map.nodePositions();
probe.zoom = () => (map.cy ? map.cy.zoom() : 1);
probe.fit = () => { map.cy?.fit(undefined, 30); };
probe.zoomTo = (id, zoom) => map.zoomTo(id, zoom);
probe.highlighted = () => (map.cy ? map.cy.elements('.hl').map((e) => e.id()) : []);
probe.blocked = () => (map.cy ? map.cy.edges('.blocked').map((e) => ({ source: e.data('source'), target: e.data('target') })) : []);

let state = State.read();
let graph = null;
let nodes = new Map();
let vocabulary = null;
let workloads = [];
let pathSource = null;
let loadController = null;
let fetchMs = 0;
let lastGrouping = null;
// A saved ruleset version previewed in place of its provisioned one (the graph's whatIf), until the next query.
let whatIf = '';

const map = new MapView($('map'), {
  onNode: (node) => showDetails(nodeDetails(node, graph, workloads, actions)),
  onEdge: (edge) => showEdge(edge),
  onBackground: () => map.clearHighlight(),
});

const actions = {
  reach: (node, reverse) => { selectTab('analytics'); runReach(`id=${node.id}`, 3, reverse); },
  pathFrom: (node) => { pathSource = node; selectTab('analytics'); renderAnalyticsForm(); },
  flows: (filter, title) => {
    const box = h('div', { class: 'flows' });
    showDetails(h('div', { class: 'details' }, h('h2', {}, `Flows of ${title}`), h('p', { class: 'muted filter-text' }, filter), box));
    loadFlows(box, State.rangeAndFilter(state, filter), null);
  },
};

/** An edge's details; in policy colouring with its decisions and, when potentially blocked, "Allow this". */
function showEdge(edge) {
  const policy = state.colour === 'policy'
    ? h('div', {}, decisionDetails(edge), allowBox(edge, nodes, state, {
      onPreview: (version) => { whatIf = version; load(); },
      onProvisioned: () => { whatIf = ''; reloadAndReopen(edge); },
    }))
    : null;
  showDetails(edgeDetails(edge, nodes, state, policy));
}

/** After a provisioning: the map again (positions kept), and the same edge's details with its new decisions. */
async function reloadAndReopen(old) {
  await load();
  const edge = graph?.edges.find((e) => e.source === old.source && e.target === old.target);
  if (edge && map.selectEdge(edge.source, edge.target)) showEdge(edge);
}

function showDetails(content) {
  selectTab('details');
  ui.details.replaceChildren(content);
}

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role=tab]')) {
    const on = tab.getAttribute('aria-controls') === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !on;
  }
}

for (const tab of document.querySelectorAll('[role=tab]')) {
  tab.addEventListener('click', () => selectTab(tab.getAttribute('aria-controls')));
  tab.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const tabs = [...document.querySelectorAll('[role=tab]')];
    const next = tabs[(tabs.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    selectTab(next.getAttribute('aria-controls'));
    next.focus();
  });
}

function renderLegend() {
  const policy = state.colour === 'policy';
  ui.legend.replaceChildren(h('strong', {}, policy ? 'Legend: policy decisions' : 'Legend: findings'),
    h('ul', {}, legendFor(state.colour).map((item) => h('li', { dataset: { cls: item.cls } },
      h('span', { class: 'swatch', style: `border-top: ${item.weight}px ${item.line} ${item.color}` }), item.label))),
    h('p', { class: 'small muted' }, policy
      ? 'An edge shows its worst decision (top first); its panel counts each. ⊣ bar: refused; ✕: violation.'
      : 'Boxes: environments. ◇ internet, ◯ unknown address.'));
}

// ---- controls <-> state

function toLocalInput(value) {
  if (!value) return '';
  const d = new Date(/^\d+$/.test(value) ? Number(value) * 1000 : value);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

function fromLocalInput(value) {
  return value ? new Date(value).toISOString().replace('.000Z', 'Z') : '';
}

function stateToControls() {
  const custom = Boolean(state.from || state.to);
  const known = [...ui.range.options].some((o) => o.value === state.last);
  if (!custom && !known && state.last) ui.range.add(new Option(`last ${state.last}`, state.last), ui.range.options.length - 1);
  ui.range.value = custom ? 'custom' : state.last;
  ui.custom.hidden = !custom;
  ui.from.value = toLocalInput(state.from);
  ui.to.value = toLocalInput(state.to);
  ui.groupBy.value = state.groupBy;
  ui.filter.value = state.filter;
  ui.width.value = state.width === 'flows' ? 'flows' : 'bytes';
  ui.colourPolicy.checked = state.colour === 'policy';
  ui.colourFindings.checked = !ui.colourPolicy.checked;
  ui.decisionsAt.value = state.decisionsAt === 'traffic' ? 'traffic' : 'now';
  ui.decisionsAtLabel.hidden = !ui.colourPolicy.checked;
  renderLegend();
}

function controlsToState() {
  const custom = ui.range.value === 'custom';
  return {
    ...state,
    last: custom ? '' : ui.range.value,
    from: custom ? fromLocalInput(ui.from.value) : '',
    to: custom ? fromLocalInput(ui.to.value) : '',
    groupBy: ui.groupBy.value.trim().replace(/\s+/g, ''),
    filter: ui.filter.value.trim(),
    width: ui.width.value,
    colour: ui.colourPolicy.checked ? 'policy' : 'findings',
    decisionsAt: ui.decisionsAt.value,
  };
}

ui.range.addEventListener('change', () => {
  ui.custom.hidden = ui.range.value !== 'custom';
  if (ui.range.value === 'custom' && !ui.from.value) {
    ui.from.value = toLocalInput(new Date(Date.now() - 3600e3).toISOString());
    ui.to.value = toLocalInput(new Date().toISOString());
  }
});

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const next = controlsToState();
  // Width and colouring only redraw what is loaded (the layout stays), unless policy colouring needs decisions.
  const presentation = { width: '', colour: '' };
  const changedOnlyLook = graph && State.query({ ...next, ...presentation }) === State.query({ ...state, ...presentation })
    && (next.colour !== 'policy' || hasDecisions(graph));
  state = { ...next, view: '' };
  State.write(state);
  stateToControls();
  whatIf = '';
  if (changedOnlyLook) redraw(); else load();
});

ui.width.addEventListener('change', () => ui.form.requestSubmit());
// The colouring lives beside the map (a toggle over it, not in the query form) and applies at once.
ui.colourFindings.addEventListener('change', () => ui.form.requestSubmit());
ui.colourPolicy.addEventListener('change', () => ui.form.requestSubmit());
ui.decisionsAt.addEventListener('change', () => ui.form.requestSubmit());

window.addEventListener('popstate', () => {
  state = State.read();
  whatIf = '';
  stateToControls();
  load();
});

// ---- loading

function groupKeys() {
  return (state.groupBy || State.defaults.groupBy).split(',').filter(Boolean);
}

function status(text) {
  ui.status.textContent = text;
}

function updateExportLink() {
  const params = State.rangeAndFilter(state);
  params.set('format', 'csv');
  params.set('all', 'true');
  ui.csv.href = `/api/v1/flows?${params}`;
}

async function load() {
  if (loadController) loadController.abort();
  const controller = new AbortController();
  loadController = controller;
  probe.ready = false;
  ui.filterError.textContent = '';
  ui.filter.removeAttribute('aria-invalid');
  updateExportLink();
  status('Loading the map…');
  const params = State.rangeAndFilter(state);
  params.set('groupBy', state.groupBy || State.defaults.groupBy);
  if (state.limit) params.set('limit', state.limit);
  decisionParams(params, state);
  if (whatIf && state.colour === 'policy') params.set('whatIf', whatIf);
  const fetchStarted = performance.now();
  try {
    graph = await getJson('/api/v1/graph', params, controller.signal);
    fetchMs = performance.now() - fetchStarted;
  } catch (error) {
    if (error.name === 'AbortError') return;
    probe.error = error.message;
    if (error.status === 401) {
      signIn(error.message);
      status('Sign in with an API key to see the map.');
    } else if (error.status === 400 && /filter|position|field|operator|expected/i.test(error.message)) {
      ui.filterError.textContent = error.message;
      ui.filter.setAttribute('aria-invalid', 'true');
      status('The filter has an error; the map shows the last good query.');
    } else {
      status(`Error: ${error.message}`);
    }
    probe.ready = true;
    return;
  }
  const regrouped = graph.groupBy?.join(',') !== lastGrouping;
  lastGrouping = graph.groupBy?.join(',');
  if (regrouped) {
    // The panel's node or edge belongs to the previous grouping: it no longer exists on this map.
    ui.details.replaceChildren(h('p', { class: 'muted' }, 'Click a node or an edge on the map.'));
  }
  nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  await redraw();
  loadFindings();
}

async function redraw() {
  if (!graph) return;
  status(`Laying out ${count(graph.nodes.length)} nodes and ${count(graph.edges.length)} edges…`);
  const colour = state.colour === 'policy' && hasDecisions(graph) ? 'policy' : 'findings';
  const timings = await map.render(graph, groupKeys(), state.width, colour);
  if (!timings) return;
  Object.assign(probe, {
    ready: true, error: null, layoutMs: Math.round(timings.layoutMs), renderMs: Math.round(timings.totalMs),
    buildMs: Math.round(timings.buildMs), paintMs: Math.round(timings.paintMs), fetchMs: Math.round(fetchMs),
    nodes: graph.nodes.length, edges: graph.edges.length, renders: probe.renders + 1, layout: timings.layout, colour,
  });
  status(`${count(graph.nodes.length)} nodes · ${count(graph.edges.length)} edges${graph.truncated ? ` (top ${count(graph.edges.length)} of ${count(graph.totalEdges)} by bytes)` : ''}`
    + ` · ${colour === 'policy' ? decisionSummary() : `${graph.edges.filter((e) => e.crossEnv).length} cross-environment`}`
    + `${state.colour === 'policy' && colour !== 'policy' ? ' · the answer carries no policy decisions' : ''} · ${timings.layout === 'kept' ? 'layout kept' : `layout ${(timings.layoutMs / 1000).toFixed(2)} s`} · updated ${new Date().toLocaleTimeString()}`);
}

/** The status line's policy part: how many edges show each decision, and the ruleset versions that judged them. */
function decisionSummary() {
  const edges = new Map();
  for (const e of graph.edges) {
    const worst = worstDecision(e);
    if (worst) edges.set(worst, (edges.get(worst) || 0) + 1);
  }
  const counts = decisionOrder.filter((k) => edges.has(k)).map((k) => `${edges.get(k)} ${decisionNames[k]}`).join(' · ') || 'no decisions';
  const rulesets = graph.policy?.rulesets || [];
  const basis = graph.policy?.whatIf ? `what if ${graph.policy.whatIf} were provisioned (preview; Apply to leave it)`
    : graph.policy?.decisionsAt === 'traffic' ? 'the policy at each connection\'s time'
    : rulesets.length ? rulesets.map((r) => `${r.name} v${r.version} (${r.mode})`).join(', ') : 'nothing provisioned';
  return `${counts} · judged by ${basis}`;
}

// ---- findings

let findingsMin = 'low';

async function loadFindings() {
  const params = State.rangeAndFilter(state);
  params.set('limit', '500');
  const select = h('select', { id: 'findings-min', onchange: (e) => { findingsMin = e.target.value; loadFindings(); } },
    ['low', 'medium', 'high', 'critical'].map((s) => h('option', { value: s, selected: s === findingsMin }, `${s} and above`)));
  const header = h('div', { class: 'panel-head' }, h('h2', {}, 'Findings'), h('label', {}, 'Severity ', select));
  try {
    const response = await getJson('/api/v1/findings', params);
    ui.findings.replaceChildren(header,
      h('p', { class: 'muted small' }, `${count(response.total)} in range${response.truncated ? ' (first 500)' : ''}, newest first`),
      findingsList(response, findingsMin, pickFinding));
    const tab = $('tab-findings');
    tab.textContent = `Findings (${count(response.total)})`;
  } catch (error) {
    ui.findings.replaceChildren(header, errorBox(`Findings: ${error.message}`));
  }
}

function pickFinding(finding) {
  const keys = groupKeys();
  const source = nodeIdOf(finding.source, keys);
  const target = nodeIdOf(finding.destination, keys);
  const edge = graph?.edges.find((e) => e.source === source && e.target === target);
  if (edge && map.focusEdge(source, target)) {
    showEdge(edge);
  } else {
    status(`That finding's edge (${source} → ${target}) is not on the map (filtered out or beyond the edge limit).`);
  }
}

// ---- analytics: blast radius and paths

function renderAnalyticsForm(result) {
  const start = h('input', { id: 'reach-start', value: lastReach.selector, size: 24, spellcheck: 'false' });
  const hops = h('input', { id: 'reach-hops', type: 'number', min: 1, max: 10, value: lastReach.hops, size: 3 });
  const reverse = h('input', { id: 'reach-reverse', type: 'checkbox', checked: lastReach.reverse });
  const source = h('input', { id: 'path-source', value: pathSource ? `id=${pathSource.id}` : (ui.analytics.querySelector('#path-source')?.value || 'env=dev'), size: 24, spellcheck: 'false' });
  const target = h('input', { id: 'path-target', value: ui.analytics.querySelector('#path-target')?.value || 'env=prod', size: 24, spellcheck: 'false' });
  const pathHops = h('input', { id: 'path-hops', type: 'number', min: 1, max: 10, value: 4, size: 3 });
  ui.analytics.replaceChildren(
    h('h2', {}, 'Blast radius'),
    h('form', { class: 'stack', onsubmit: (e) => { e.preventDefault(); runReach(start.value, Number(hops.value), reverse.checked); } },
      h('label', {}, 'From group ', start), h('label', {}, 'Hops ', hops), h('label', {}, reverse, ' reverse (who can reach it)'),
      h('button', { type: 'submit' }, 'Show blast radius')),
    h('h2', {}, 'Paths'),
    h('form', { class: 'stack', onsubmit: (e) => { e.preventDefault(); runPaths(source.value, target.value, Number(pathHops.value)); } },
      h('label', {}, 'From ', source), h('label', {}, 'To ', target), h('label', {}, 'Hops ', pathHops),
      h('button', { type: 'submit' }, 'Find paths')),
    h('p', { class: 'muted small' }, 'Groups: key=value pairs (env=prod,role=db), kind=unknown|internet, or id=<node id>.'),
    h('button', { type: 'button', onclick: () => map.clearHighlight() }, 'Clear highlight'),
    h('div', { id: 'analytics-result', 'aria-live': 'polite' }, result || ''));
}

function analyticsParams(extra) {
  const params = State.rangeAndFilter(state);
  params.set('groupBy', state.groupBy || State.defaults.groupBy);
  for (const [k, v] of Object.entries(extra)) params.set(k, String(v));
  return params;
}

const lastReach = { selector: 'env=dev', hops: 3, reverse: false };

async function runReach(selector, hops, reverse) {
  Object.assign(lastReach, { selector, hops, reverse });
  try {
    const response = await getJson('/api/v1/graph/reach', analyticsParams({ start: selector, hops, reverse }));
    const r = response.result;
    map.highlight(r.nodes.map((n) => n.id), r.edges.map((e) => [e.source, e.target]));
    renderAnalyticsForm(h('div', {},
      h('h3', {}, `${reverse ? 'Can reach' : 'Reachable from'} ${r.selector}: ${count(r.reachedCount)} group(s) within ${r.hops} hop(s)`),
      h('p', { class: 'muted small' }, `by hop: ${r.countByHop.join(', ')}${r.truncated || response.graphTruncated ? ' · truncated' : ''}`),
      h('ol', { class: 'reach-list' }, r.nodes.filter((n) => n.hop > 0).slice(0, 200).map((n) => h('li', {}, `${n.id} (hop ${n.hop})`)))));
  } catch (error) {
    renderAnalyticsForm(errorBox(error.message));
  }
}

async function runPaths(source, target, hops) {
  try {
    const response = await getJson('/api/v1/graph/paths', analyticsParams({ source, target, hops }));
    const r = response.result;
    const ids = new Set();
    const pairs = [];
    for (const p of r.paths) {
      p.nodes.forEach((n, i) => { ids.add(n); if (i > 0) pairs.push([p.nodes[i - 1], n]); });
    }
    map.highlight([...ids], pairs);
    renderAnalyticsForm(h('div', {},
      h('h3', {}, `${count(r.paths.length)} path(s) from ${r.from} to ${r.to}`),
      r.paths.length ? h('ol', { class: 'path-list' }, r.paths.slice(0, 100).map((p) => h('li', {}, p.nodes.join(' → ')))) : h('p', { class: 'muted' }, 'No path within the hop limit.')));
  } catch (error) {
    renderAnalyticsForm(errorBox(error.message));
  }
}

// ---- saved views

async function loadViews(selected) {
  try {
    const views = await getJson('/api/v1/views');
    ui.views.replaceChildren(new Option('Saved views…', ''), ...views.map((v) => new Option(v.name, v.id)));
    ui.views.value = selected || '';
  } catch (error) {
    status(`Saved views: ${error.message}`);
  }
}

ui.views.addEventListener('change', async () => {
  const id = ui.views.value;
  if (!id) return;
  await openView(id);
});

async function openView(id) {
  try {
    const view = await getJson(`/api/v1/views/${encodeURIComponent(id)}`);
    state = { ...State.read(`?${view.query}`), view: view.id };
    State.write(state);
    stateToControls();
    ui.views.value = view.id;
    document.title = `${view.name} — Visibility`;
    await load();
  } catch (error) {
    status(`Saved view: ${error.message}`);
  }
}

ui.save.addEventListener('click', async () => {
  const name = window.prompt('Name of the view', document.title.replace(/ — Visibility$/, '').replace(/^Visibility — map$/, ''));
  if (!name) return;
  state = { ...controlsToState(), view: state.view };
  try {
    const view = await sendJson('POST', '/api/v1/views', { name, query: State.query(state) });
    state.view = view.id;
    State.write(state);
    await loadViews(view.id);
    document.title = `${view.name} — Visibility`;
    status(`Saved "${view.name}": share ${location.origin}/?view=${view.id}`);
  } catch (error) {
    status(`Could not save the view: ${error.message}`);
  }
});

// ---- signing in

/** The API wants a key: ask for one (a modal dialog), keep it for this tab, and load again. */
function signIn(reason) {
  let dialog = $('sign-in');
  if (!dialog) {
    const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
    const message = h('p', { id: 'sign-in-reason', class: 'error', role: 'alert' });
    dialog = h('dialog', { id: 'sign-in', 'aria-labelledby': 'sign-in-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'sign-in-title' }, 'Sign in'),
        h('p', {}, 'Paste an API key (visibility keys create, or the key serve printed at its first start).'),
        h('label', { for: 'api-key' }, 'API key'), ' ', input, ' ',
        h('button', { type: 'submit' }, 'Sign in'),
        message));
    dialog.querySelector('form').addEventListener('submit', () => {
      setApiKey(input.value);
      input.value = '';
      startLoading();
    });
    document.body.append(dialog);
  }

  $('sign-in-reason').textContent = apiKey() ? `The key was refused: ${reason}` : '';
  if (!dialog.open) dialog.showModal();
}

// API links (CSV exports) are fetched with the key when there is one.
document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('a[href^="/api/"]');
  if (!link || !apiKey()) return;
  event.preventDefault();
  downloadWithKey(link).then((truncated) => {
    if (truncated) status(`Download holds the newest ${count(truncated)} flows only: narrow the range or filter for the rest.`);
  }).catch((error) => {
    if (error.status === 401) signIn(error.message);
    else status(`Download failed: ${error.message}`);
  });
});

function startLoading() {
  getJson('/api/v1/labels').then((v) => { vocabulary = v; }).catch(() => {});
  getJson('/api/v1/workloads').then((w) => { workloads = w; }).catch(() => {});
  if (state.view) {
    loadViews(state.view);
    openView(state.view);
  } else {
    loadViews();
    load();
  }
}

// ---- start

takeKeyFromUrl();
attach(ui.filter, $('completions'), () => vocabulary);
renderAnalyticsForm();
const policy = new PolicyPanel(ui.policy, map, () => ({ state, graph }));
policy.render();
stateToControls();
startLoading();
