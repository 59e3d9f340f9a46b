// fcose settings shared by the worker and the main-thread fallback. Above a few hundred nodes "draft" quality
// (spectral placement without the incremental polish) keeps a 2,000-node map within the time budget.
export function layoutOptions(nodeCount) {
  const large = nodeCount > 400;
  return {
    name: 'fcose',
    quality: large ? 'draft' : 'default',
    randomize: true,
    animate: false,
    fit: false,
    nodeDimensionsIncludeLabels: false,
    nodeRepulsion: 6000,
    idealEdgeLength: large ? 60 : 90,
    nestingFactor: 0.3,
    gravity: 0.4,
    numIter: large ? 1200 : 2500,
    tile: true,
    packComponents: false,
  };
}

/** Graphs above this many nodes are laid out per environment and drawn without compound nodes (see map.js). */
export const largeGraphNodes = 400;
