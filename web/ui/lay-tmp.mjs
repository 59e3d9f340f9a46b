import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import fs from 'fs';
cytoscape.use(fcose);
const g = JSON.parse(fs.readFileSync('/tmp/g.json'));
const env = new Map(g.nodes.map(n => [n.id, n.labels.env ?? '']));
const style = [{ selector: 'node', style: { width: 36, height: 36 } }];
function run(name, elements, opts) {
  const t = performance.now();
  const cy = cytoscape({ headless: true, styleEnabled: true, style, elements });
  cy.layout({ name: 'fcose', randomize: true, animate: false, fit: false, nodeDimensionsIncludeLabels: false, tile: true, packComponents: false, ...opts }).run();
  const bb = cy.nodes().boundingBox();
  console.log(name, Math.round(performance.now() - t), 'ms', Math.round(bb.w), 'x', Math.round(bb.h));
}
const nodes = g.nodes.map(n => ({ data: { id: n.id } }));
const edges = g.edges.map((e, i) => ({ data: { id: 'e' + i, source: e.source, target: e.target } }));
run('whole draft', [...nodes, ...edges], { quality: 'draft' });
run('whole default', [...nodes, ...edges], { quality: 'default' });
for (const q of ['draft', 'default']) {
  let total = 0;
  for (const grp of [...new Set(env.values())]) {
    const ids = g.nodes.filter(n => env.get(n.id) === grp).map(n => n.id);
    const set = new Set(ids);
    const els = [...ids.map(id => ({ data: { id } })), ...g.edges.filter(e => set.has(e.source) && set.has(e.target)).map((e, i) => ({ data: { id: 'g' + i, source: e.source, target: e.target } }))];
    const t = performance.now();
    run(`  ${q} ${grp} ${ids.length} nodes ${els.length - ids.length} edges`, els, { quality: q });
    total += performance.now() - t;
  }
  console.log('per group', q, Math.round(total));
}
