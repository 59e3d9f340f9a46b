// Runs the force-directed layout off the page's main thread, so the page stays responsive while a large graph
// is laid out. Receives nodes (with parents) and edges, returns positions of the leaf nodes.
import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { layoutOptions } from './layout-options.js';

cytoscape.use(fcose);

self.onmessage = ({ data }) => {
  const started = performance.now();
  try {
    const cy = cytoscape({
      headless: true,
      styleEnabled: true,
      style: [
        { selector: 'node', style: { width: 36, height: 36 } },
        { selector: ':parent', style: { padding: 12 } },
      ],
      elements: data.elements,
    });
    cy.layout(layoutOptions(data.nodeCount)).run();
    const positions = {};
    cy.nodes().filter((n) => !n.isParent()).forEach((n) => {
      positions[n.id()] = n.position();
    });
    self.postMessage({ positions, ms: performance.now() - started });
  } catch (error) {
    self.postMessage({ error: String(error && error.message ? error.message : error) });
  }
};
