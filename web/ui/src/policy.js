// The Policy tab: draft allow rules from the traffic of the current view, edit them, and simulate them against the
// same range — what would be blocked is marked on the map.
import { getJson, sendJson } from './api.js';
import { h, count } from './dom.js';
import { errorBox } from './panels.js';
import * as State from './state.js';

export class PolicyPanel {
  constructor(root, map, current) {
    this.root = root;
    this.map = map;
    this.current = current;
    this.rulesetText = '';
    this.summary = null;
    this.result = null;
    this.download = null;
  }

  render() {
    const flagged = h('input', { id: 'policy-flagged', type: 'checkbox', checked: this.includeFlagged || false });
    const text = h('textarea', {
      id: 'policy-ruleset', rows: 12, cols: 40, spellcheck: 'false', 'aria-label': 'Ruleset (JSON, editable)',
      oninput: (e) => { this.rulesetText = e.target.value; },
    });
    text.value = this.rulesetText;
    this.root.replaceChildren(
      h('h2', {}, 'Policy'),
      h('p', { class: 'muted small' }, 'Draft allow rules from the traffic of this view (its range, filter and grouping), edit them, then see what they would block in the same range.'),
      h('form', { class: 'stack', onsubmit: (e) => { e.preventDefault(); this.includeFlagged = flagged.checked; this.draft(); } },
        h('label', {}, flagged, ' include flagged flows (cross-environment, unknown, internet)'),
        h('button', { type: 'submit', id: 'policy-draft' }, 'Draft rules')),
      this.summary || '',
      h('label', { class: 'stack' }, 'Ruleset ', text),
      h('div', { class: 'stack' },
        h('button', { type: 'button', id: 'policy-simulate', onclick: () => this.simulate() }, 'Simulate against this view'),
        h('button', { type: 'button', onclick: () => { this.map.clearHighlight(); } }, 'Clear marks'),
        this.download || ''),
      h('div', { id: 'policy-result', 'aria-live': 'polite' }, this.result || ''));
  }

  params() {
    const { state } = this.current();
    const params = State.rangeAndFilter(state);
    params.set('groupBy', state.groupBy || State.defaults.groupBy);
    return params;
  }

  async draft() {
    try {
      const params = this.params();
      if (this.includeFlagged) params.set('includeFlagged', 'true');
      params.set('name', 'map-draft');
      const draft = await getJson('/api/v1/policy/draft', params);
      this.rulesetText = JSON.stringify(draft.ruleset, null, 2);
      this.summary = h('p', { id: 'policy-summary' },
        `${count(draft.ruleset.rules.length)} rule(s) from ${count(draft.flowsCovered)} flow(s); ${count(draft.flaggedFlowsExcluded)} flagged flow(s) left out${draft.truncated ? ' · traffic truncated' : ''}.`);
      const blob = new Blob([this.rulesetText + '\n'], { type: 'application/json' });
      if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
      this.downloadUrl = URL.createObjectURL(blob);
      this.download = h('a', { href: this.downloadUrl, download: 'ruleset.json' }, 'Download ruleset (JSON)');
      this.result = null;
    } catch (error) {
      this.summary = errorBox(error.message);
    }
    this.render();
  }

  async simulate() {
    let ruleset;
    try {
      ruleset = JSON.parse(this.rulesetText);
    } catch (error) {
      this.result = errorBox(`The ruleset is not JSON: ${error.message}`);
      this.render();
      return;
    }
    const params = this.params();
    const body = { ruleset, filter: params.get('filter') || null, last: params.get('last'), from: params.get('from'), to: params.get('to') };
    try {
      const r = await sendJson('POST', '/api/v1/policy/simulate', body);
      const pairs = r.blocked.map((b) => [this.nodeId(b.source), this.nodeId(b.destination)]).filter(([s, t]) => s && t);
      const marked = this.map.markBlocked(pairs);
      const unused = r.rules.filter((u) => u.flows === 0);
      this.result = h('div', {},
        h('h3', { id: 'policy-coverage' }, `${(r.coverage * 100).toFixed(1)}% of ${count(r.flows)} flow(s) allowed; ${count(r.blockedFlows)} would be blocked`),
        r.blocked.length ? h('p', { class: 'muted small' }, `${count(marked)} blocked edge(s) marked on the map (dark, dashed).`) : '',
        r.blocked.length
          ? h('ol', { class: 'blocked-list' }, r.blocked.slice(0, 200).map((b) => h('li', {},
            `${b.source} → ${b.destination} ${b.service}: ${count(b.flows)} flow(s)${b.findings.length ? ` (${b.findings.join(', ')})` : ''}`)))
          : h('p', {}, 'Nothing in this view would be blocked.'),
        unused.length ? h('p', { class: 'muted small' }, `Rules that allowed nothing here: ${unused.map((u) => u.rule).join('; ')}`) : '');
    } catch (error) {
      this.result = errorBox(error.message);
    }
    this.render();
  }

  /** The map node of a simulated group: a peer class by id, a workload group by its labels. */
  nodeId(group) {
    const { graph } = this.current();
    if (!graph) return null;
    if (graph.nodes.some((n) => n.id === group)) return group;
    const pairs = group.split(',').map((p) => p.split('='));
    const node = graph.nodes.find((n) => pairs.every(([k, v]) => n.labels && n.labels[k] === v));
    return node ? node.id : null;
  }
}
