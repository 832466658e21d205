// @ts-check
// Workflow graph layout, DOM-free: a node's column is its depth (longest path from a root), its
// row its place among the nodes of that column, so every edge points rightwards.

/**
 * @param {{ key: string, dependsOn: string[] }[]} nodes
 * @returns {Map<string, { col: number, row: number }>}
 */
export function layout(nodes) {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  /** @type {Map<string, number>} */
  const depth = new Map();
  /** @param {string} key @param {Set<string>} path */
  const depthOf = (key, path) => {
    const known = depth.get(key);
    if (known !== undefined) return known;
    // A cycle cannot be created (the API refuses it); guard anyway so a bad answer cannot hang.
    if (path.has(key)) return 0;
    path.add(key);
    const parents = (byKey.get(key)?.dependsOn ?? []).filter((p) => byKey.has(p));
    const d = parents.length === 0 ? 0 : 1 + Math.max(...parents.map((p) => depthOf(p, path)));
    path.delete(key);
    depth.set(key, d);
    return d;
  };
  /** @type {Map<string, { col: number, row: number }>} */
  const out = new Map();
  /** @type {number[]} */
  const rows = [];
  for (const n of nodes) {
    const col = depthOf(n.key, new Set());
    out.set(n.key, { col, row: rows[col] = (rows[col] ?? -1) + 1 });
  }
  return out;
}
