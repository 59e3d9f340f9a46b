// "Allow this": from a potentially blocked edge, a rule for its traffic (its two groups, its ports) added to a new
// version of the provisioned ruleset that governs its destination, that version simulated against the view's range,
// and provisioned in the mode the ruleset has now, by a user allowed to (admins; others see the API's 403).
import { getJson, sendJson } from './api.js';
import { h, count } from './dom.js';
import { quote } from './filters.js';
import { combine, rangeAndFilter } from './state.js';

function errorBox(message) {
  return h('p', { class: 'error', role: 'alert' }, message);
}

/** A scope's pairs: `app=payments,env=prod` → [['app', 'payments'], ['env', 'prod']]. */
export function scopePairs(scope) {
  return (scope || '').split(',').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i).trim(), p.slice(i + 1).trim()];
  });
}

/**
 * The provisioned ruleset governing a destination node: one whose scope's pairs all hold on the node's labels (the
 * most specific when several do). Null when none does, or the node's grouping lacks a scope key (then unknown).
 */
export function governing(provisioned, node) {
  if (!node || node.kind !== 'workload') return null;
  const labels = node.labels || {};
  const matching = provisioned.filter((r) => scopePairs(r.scope).every(([k, v]) => labels[k] === v));
  matching.sort((a, b) => scopePairs(b.scope).length - scopePairs(a.scope).length);
  return matching[0] || null;
}

/** The filter text of a scope's destinations (`dst.env = "prod"`): what the simulation judges. */
export function scopeFilter(scope) {
  return scopePairs(scope).map(([k, v]) => `dst.${k} = ${quote(v)}`).join(' and ');
}

/** A map node as a rule's peer (docs/policy.md): a workload group by its labels, or a peer class. */
export function peerOf(node) {
  if (node.kind === 'workload') return { kind: 'workload', labels: { ...node.labels } };
  if (node.kind === 'internet' || node.kind === 'unknown') return { kind: node.kind };
  return { kind: 'network', network: node.kind };
}

/** The edge's services (`tcp/5432`) as port ranges, one per service. */
export function portRanges(ports) {
  const ranges = [];
  for (const service of ports || []) {
    const m = /^([a-z0-9]+)\/(\d+)$/.exec(service);
    if (!m) continue;
    const port = m[1] === 'icmp' || m[1] === 'icmpv6' ? 0 : Number(m[2]);
    if (!ranges.some((r) => r.protocol === m[1] && r.from === port)) ranges.push({ protocol: m[1], from: port, to: port });
  }
  return ranges;
}

/** The rule allowing an edge's traffic, named as drafts name rules (`<source> -> <destination>`). */
export function ruleFor(edge, source, target) {
  return { name: `${source.id} -> ${target.id}`, source: peerOf(source), destination: peerOf(target), ports: portRanges(edge.ports) };
}

/** Whether a simulated group (`app=api,env=dev`, `internet`) is a map node. */
function isNode(group, node) {
  if (group === node.id) return true;
  const pairs = group.split(',').map((p) => p.split('='));
  return node.kind === 'workload' && pairs.every(([k, v]) => node.labels?.[k] === v);
}

/**
 * The panel part of an edge that is potentially blocked: the button, then each step's outcome. onPreview(whatIf)
 * redraws the map judged by the saved version in place of the provisioned one (the graph's whatIf); onProvisioned
 * runs after a successful provisioning (the map reloads and the edge's decisions follow).
 */
export function allowBox(edge, nodes, state, { onPreview, onProvisioned }) {
  const source = nodes.get(edge.source);
  const target = nodes.get(edge.target);
  const box = h('div', { class: 'allow', id: 'allow-box', 'aria-live': 'polite' });
  if (!edge.decisions || !(Number(edge.decisions.potentiallyBlocked) > 0) || !source || !target) return box;
  const steps = h('div', { class: 'allow-steps' });
  const button = h('button', { type: 'button', id: 'allow-this', onclick: () => { button.disabled = true; run(); } }, 'Allow this');
  box.append(h('p', { class: 'small muted' }, 'Adds a rule for this edge\'s traffic to a new version of the ruleset that governs its destination and simulates it.'), button, steps);

  const say = (...content) => steps.append(h('div', { class: 'allow-step' }, ...content));

  async function run() {
    try {
      if ('address' in (source.labels || {}) || 'address' in (target.labels || {})) {
        say(errorBox('Rules are written with labels: group the map by labels (not address) to allow an edge.'));
        return;
      }
      const provisioned = await getJson('/api/v1/policy/provisioned', new URLSearchParams({ format: 'json' }));
      const active = governing(provisioned.rulesets || [], target);
      if (!active) {
        say(errorBox(`No provisioned ruleset's scope holds on ${target.id} at this grouping: group by the scope's keys.`));
        return;
      }
      const rule = ruleFor(edge, source, target);
      if (rule.ports.length === 0) {
        say(errorBox('This edge has no port to allow.'));
        return;
      }
      const base = active.ruleset;
      const ruleset = { schema: base.schema || 'visibility.policy/v1', name: active.name, groupBy: base.groupBy, rules: [...base.rules, rule] };
      const saved = await sendJson('POST', '/api/v1/policy/rulesets', { name: active.name, scope: active.scope, groupBy: base.groupBy, rules: ruleset.rules });
      say(h('p', { id: 'allow-version' }, `Saved ${saved.name} version ${saved.version}: version ${active.version} (provisioned, ${active.mode}) and the rule `,
        h('code', {}, rule.name), ` on ${rule.ports.map((p) => `${p.protocol}/${p.from}`).join(', ')}.`),
      edge.portCount > (edge.ports || []).length ? h('p', { class: 'small' }, `The edge has ${count(edge.portCount)} services; the rule holds the ${count(edge.ports.length)} the map lists.`) : '');

      const params = rangeAndFilter(state);
      const simulated = await sendJson('POST', '/api/v1/policy/simulate', {
        ruleset: { ...ruleset, rules: ruleset.rules.map(({ name, source: s, destination, ports }) => ({ name, source: s, destination, ports })) },
        filter: combine(state.filter, scopeFilter(active.scope)) || null,
        last: params.get('last'), from: params.get('from'), to: params.get('to'),
      });
      const stillBlocked = simulated.blocked.filter((b) => isNode(b.source, source) && isNode(b.destination, target));
      say(h('div', { id: 'allow-simulation' },
        h('h3', {}, `Simulation of version ${saved.version}`),
        h('p', { id: 'allow-coverage' }, `${(simulated.coverage * 100).toFixed(1)}% of ${count(simulated.flows)} flow(s) in ${active.scope} allowed; ${count(simulated.blockedFlows)} would be blocked.`),
        h('p', { id: 'allow-edge-outcome' }, stillBlocked.length
          ? `This edge would still be blocked on ${stillBlocked.map((b) => b.service).join(', ')}.`
          : 'This edge would be allowed.'),
        simulated.blocked.length
          ? h('ol', { class: 'blocked-list' }, simulated.blocked.slice(0, 50).map((b) => h('li', {}, `${b.source} → ${b.destination} ${b.service}: ${count(b.flows)} flow(s)`)))
          : ''));

      const provision = h('button', { type: 'button', id: 'allow-provision', onclick: () => { provision.disabled = true; provisionIt(saved, active.mode, provision); } },
        `Provision version ${saved.version} (${active.mode})`);
      const preview = h('button', { type: 'button', id: 'allow-preview', onclick: () => onPreview(`${saved.name}:${saved.version}`) },
        `Preview version ${saved.version} on the map`);
      say(h('div', { class: 'buttons' }, preview, provision));
    } catch (error) {
      say(errorBox(error.message));
    }
  }

  async function provisionIt(saved, mode, button) {
    try {
      await sendJson('POST', `/api/v1/policy/rulesets/${encodeURIComponent(saved.name)}/provision`, { version: saved.version, mode });
      say(h('p', { id: 'allow-provisioned' }, `Provisioned ${saved.name} version ${saved.version} (${mode}); the map is refreshed.`));
      onProvisioned();
    } catch (error) {
      button.disabled = false;
      say(h('p', { class: 'error', role: 'alert', id: 'allow-refused' }, error.status === 403 ? `Not provisioned: ${error.message}` : error.message));
    }
  }

  return box;
}
