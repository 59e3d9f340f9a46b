// Keeps the map still across refreshes: nodes already on the map keep their positions, and only new nodes are
// placed, each in free space next to its neighbours inside its own group (environment), next to its group when it
// has no neighbour there, or beside the map when its group is new. A group's box may grow to take a new member, but
// only where it runs into no other group's box and swallows no ungrouped node (internet, unknown addresses).

/** Whether a map can keep its layout: some nodes are already drawn and the new ones are not most of the map. */
export function canKeep(previous, nodes) {
  let kept = 0;
  for (const n of nodes) if (previous.has(n.id)) kept++;
  return kept > 0 && nodes.length - kept <= Math.max(kept, 10);
}

function boxOf(points) {
  const box = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
  for (const p of points) grow(box, p);
  return box;
}

function grow(box, p) {
  box.x1 = Math.min(box.x1, p.x);
  box.y1 = Math.min(box.y1, p.y);
  box.x2 = Math.max(box.x2, p.x);
  box.y2 = Math.max(box.y2, p.y);
}

function overlaps(a, b, pad) {
  return a.x1 - pad < b.x2 + pad && b.x1 - pad < a.x2 + pad && a.y1 - pad < b.y2 + pad && b.y1 - pad < a.y2 + pad;
}

/** Points bucketed by cell, for "is anything within `spacing` of here" in constant time. */
class Grid {
  constructor(cell) {
    this.cell = cell;
    this.cells = new Map();
  }

  key(cx, cy) {
    return `${cx},${cy}`;
  }

  add(p) {
    const k = this.key(Math.floor(p.x / this.cell), Math.floor(p.y / this.cell));
    if (!this.cells.has(k)) this.cells.set(k, []);
    this.cells.get(k).push(p);
  }

  /** Distance to the nearest point, or `cell` when none is nearer than that. */
  nearest(p) {
    const cx = Math.floor(p.x / this.cell);
    const cy = Math.floor(p.y / this.cell);
    let best = this.cell;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const q of this.cells.get(this.key(cx + dx, cy + dy)) || []) {
          best = Math.min(best, Math.hypot(q.x - p.x, q.y - p.y));
        }
      }
    }
    return best;
  }
}

/**
 * Positions for every node: the previous position of each node still on the map, a new one for each new node.
 * nodes: [{ id, group }] (group '' when the node is in no group); edges: [{ source, target }];
 * spacing: the least distance between two nodes; pad: how far a group's box reaches beyond its nodes.
 */
export function placeNew(previous, nodes, edges, { spacing, pad }) {
  const positions = {};
  const groupOf = new Map(nodes.map((n) => [n.id, n.group || '']));
  const grid = new Grid(spacing);
  const boxes = new Map();
  const loose = [];
  const place = (id, p) => {
    positions[id] = p;
    grid.add(p);
    const group = groupOf.get(id);
    if (group) {
      if (!boxes.has(group)) boxes.set(group, boxOf([]));
      grow(boxes.get(group), p);
    } else {
      loose.push(p);
    }
  };
  const pending = [];
  for (const n of nodes) {
    if (previous.has(n.id)) {
      const p = previous.get(n.id);
      place(n.id, { x: p.x, y: p.y });
    } else {
      pending.push(n.id);
    }
  }
  if (pending.length === 0) return positions;

  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (e.source === e.target) continue;
    neighbours.get(e.source)?.push(e.target);
    neighbours.get(e.target)?.push(e.source);
  }
  const grouped = nodes.some((n) => n.group);
  const all = boxOf(Object.values(positions));
  let newGroupY = all.y1;

  // A spot is allowed when it keeps its group's box clear of every other box and every ungrouped node, or, for an
  // ungrouped node, when it is outside every box.
  const allowed = (id, p) => {
    if (!grouped) return true;
    const group = groupOf.get(id);
    if (!group) {
      for (const box of boxes.values()) if (overlaps(box, { x1: p.x, y1: p.y, x2: p.x, y2: p.y }, pad + spacing / 2)) return false;
      return true;
    }
    const own = { ...(boxes.get(group) || boxOf([p])) };
    grow(own, p);
    // A little more than the boxes' padding between them: drawn boxes have borders, and touching ones look merged.
    for (const [other, box] of boxes) if (other !== group && overlaps(own, box, pad + spacing / 4)) return false;
    for (const q of loose) if (overlaps(own, { x1: q.x, y1: q.y, x2: q.x, y2: q.y }, pad + spacing / 2)) return false;
    return true;
  };

  const seedOf = (id) => {
    const group = groupOf.get(id);
    const placed = neighbours.get(id).filter((m) => positions[m]);
    const inGroup = placed.filter((m) => groupOf.get(m) === group);
    if (inGroup.length > 0 || (!group && placed.length > 0)) return centroid((inGroup.length ? inGroup : placed).map((m) => positions[m]));
    const box = boxes.get(group);
    if (box) {
      // The side of its group's box that faces its neighbours elsewhere (or the box's centre).
      const c = placed.length ? centroid(placed.map((m) => positions[m])) : { x: (box.x1 + box.x2) / 2, y: (box.y1 + box.y2) / 2 };
      return { x: Math.min(Math.max(c.x, box.x1), box.x2), y: Math.min(Math.max(c.y, box.y1), box.y2) };
    }
    if (placed.length > 0 && !grouped) return centroid(placed.map((m) => positions[m]));
    // A group new to the map starts beside it, to the right; several new groups stack downwards.
    const seed = { x: (Number.isFinite(all.x2) ? all.x2 : 0) + 2 * pad + 2 * spacing, y: Number.isFinite(newGroupY) ? newGroupY : 0 };
    newGroupY = seed.y + 4 * spacing + 2 * pad;
    return seed;
  };

  // Nodes next to placed ones first, so a new cluster grows out from where it attaches to the map.
  let left = pending;
  while (left.length > 0) {
    const ready = left.filter((id) => neighbours.get(id).some((m) => positions[m]));
    for (const id of ready.length > 0 ? ready : [left[0]]) place(id, findSpot(seedOf(id), (p) => allowed(id, p), grid, spacing));
    left = left.filter((id) => !positions[id]);
  }
  return positions;
}

function centroid(points) {
  let x = 0;
  let y = 0;
  for (const p of points) {
    x += p.x;
    y += p.y;
  }
  return { x: x / points.length, y: y / points.length };
}

/** The first allowed spot at least `spacing` from every node, on a spiral out from the seed (else the roomiest). */
function findSpot(seed, allowed, grid, spacing) {
  const step = spacing / 2;
  let best = null;
  let bestRoom = -1;
  for (let ring = 0; ring <= 80; ring++) {
    const radius = ring * step;
    const count = ring === 0 ? 1 : Math.max(6, Math.floor((2 * Math.PI * radius) / step));
    for (let i = 0; i < count; i++) {
      const angle = (2 * Math.PI * i) / count + ring * 0.61;
      const p = { x: seed.x + radius * Math.cos(angle), y: seed.y + radius * Math.sin(angle) };
      if (!allowed(p)) continue;
      const room = grid.nearest(p);
      if (room >= spacing) return p;
      if (room > bestRoom) {
        best = p;
        bestRoom = room;
      }
    }
  }
  return best || seed;
}
