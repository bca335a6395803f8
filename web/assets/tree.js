// Call trees in flat typed arrays, laid out once for the flame graphs.
// A prefix tree of stacks in flat typed arrays. A profile's tree comes from
// the server ready-made (`treeFromArrays`); this builder makes the sandwich
// view's trees and the diff of two profiles (`addTree`). Laid out once
// (`finishTree`): x[n] and w[n] are the node's start and width as fractions
// of the root. Children are sorted by weight, heaviest first, so the narrow
// ones a draw merges are the last.

import { diffColors } from "./palette.js";

export class TreeBuilder {
  constructor(sides) {
    this.sides = sides;
    this.name = [""];
    this.parent = [-1];
    this.depth = [0];
    this.totals = [];
    this.selfs = [];
    for (let s = 0; s < sides; s++) { this.totals.push([0]); this.selfs.push([0]); }
    this.children = null; // node -> Map(name -> child), once input is out of order
    this.path = [0];
    this.previous = null;
    this.previousSide = -1;
  }

  // Adds one root-first stack. Consecutive stacks usually share a prefix,
  // walked without any lookup. While the input stays sorted (the API sorts
  // stacks by frames) a frame past that prefix is always a new node, so no
  // child index is kept at all; the first out-of-order stack builds one.
  add(frames, count, side = 0) {
    const total = this.totals[side];
    const path = this.path;
    total[0] += count;
    let d = 0;
    const previous = this.previousSide === side ? this.previous : null;
    if (previous !== null) {
      const limit = Math.min(previous.length, frames.length);
      while (d < limit && frames[d] === previous[d]) { d++; total[path[d]] += count; }
      if (this.children === null && (d < limit ? !(frames[d] > previous[d]) : d === frames.length && d < previous.length)) {
        this.indexChildren();
      }
    } else if (this.previousSide !== -1 && this.children === null) {
      this.indexChildren();
    }
    let node = path[d];
    const children = this.children;
    let fresh = children === null;
    for (; d < frames.length; d++) {
      const name = frames[d];
      let child;
      if (!fresh) {
        const kids = children.get(node);
        child = kids === undefined ? undefined : kids.get(name);
        fresh = child === undefined;
      }
      if (fresh) {
        child = this.name.length;
        this.name.push(name);
        this.parent.push(node);
        this.depth.push(d + 1);
        for (let s = 0; s < this.sides; s++) { this.totals[s].push(0); this.selfs[s].push(0); }
        if (children !== null) {
          let kids = children.get(node);
          if (kids === undefined) { kids = new Map(); children.set(node, kids); }
          kids.set(name, child);
        }
      }
      total[child] += count;
      path[d + 1] = child;
      node = child;
    }
    this.selfs[side][node] += count;
    this.previous = frames;
    this.previousSide = side;
  }

  // From now on children are found through an index (parent, name) -> node.
  indexChildren() {
    const children = new Map();
    const { name, parent } = this;
    for (let i = 1; i < name.length; i++) {
      let kids = children.get(parent[i]);
      if (kids === undefined) { kids = new Map(); children.set(parent[i], kids); }
      kids.set(name[i], i);
    }
    this.children = children;
  }

  // `absolute`: a diff of amounts held (a gauge such as memory in use),
  // whose sides weigh as they are rather than as shares of their totals:
  // what grew is what grew, even when everything did.
  finish(rootLabel, absolute = false) {
    const n = this.name.length;
    const name = this.name;
    const parent = Int32Array.from(this.parent);
    const depth = Uint16Array.from(this.depth);
    const weight = new Float64Array(n);
    const selfWeight = new Float64Array(n);
    let sideA = null, sideB = null, selfA = null, selfB = null;
    if (this.sides === 1) {
      weight.set(this.totals[0]);
      selfWeight.set(this.selfs[0]);
    } else {
      sideA = Float64Array.from(this.totals[0]);
      sideB = Float64Array.from(this.totals[1]);
      selfA = Float64Array.from(this.selfs[0]);
      selfB = Float64Array.from(this.selfs[1]);
      // Normalized: each side counts as its share of its own total
      // (absolute: as the amount it is).
      const A = sideA[0], B = sideB[0];
      const ka = absolute ? 1 : A > 0 ? (B > 0 ? 0.5 : 1) / A : 0;
      const kb = absolute ? 1 : B > 0 ? (A > 0 ? 0.5 : 1) / B : 0;
      for (let i = 0; i < n; i++) {
        weight[i] = sideA[i] * ka + sideB[i] * kb;
        selfWeight[i] = selfA[i] * ka + selfB[i] * kb;
      }
    }
    return finishTree({ diff: this.sides === 2, absolute: this.sides === 2 && absolute, rootLabel, name, parent, depth, weight, selfWeight, sideA, sideB, selfA, selfB });
  }

  // Merges the subtree of `src` under `start` into this tree's root, on
  // `side`: node by node (a node's total already holds its callees').
  addTree(src, start, side = 0) {
    if (this.children === null) this.indexChildren();
    this.previous = null;
    this.previousSide = -1;
    const total = this.totals[side], self = this.selfs[side];
    const srcTotal = src.sideA ? null : src.weight;
    if (srcTotal === null) throw new Error("addTree takes a one-sided tree");
    total[0] += srcTotal[start];
    self[0] += src.selfWeight[start];
    const stack = [start, 0];
    while (stack.length) {
      const into = stack.pop(), n = stack.pop();
      const end = src.kidStart[n] + src.kidCount[n];
      for (let k = src.kidStart[n]; k < end; k++) {
        const c = src.kids[k];
        const child = this.childOf(into, src.name[c]);
        total[child] += srcTotal[c];
        self[child] += src.selfWeight[c];
        stack.push(c, child);
      }
    }
  }

  // The child of `node` named `name`, created if missing (children indexed).
  childOf(node, name) {
    let kids = this.children.get(node);
    if (kids === undefined) { kids = new Map(); this.children.set(node, kids); }
    let child = kids.get(name);
    if (child === undefined) {
      child = this.name.length;
      this.name.push(name);
      this.parent.push(node);
      this.depth.push(this.depth[node] + 1);
      for (let s = 0; s < this.sides; s++) { this.totals[s].push(0); this.selfs[s].push(0); }
      kids.set(name, child);
    }
    return child;
  }
}

// Child lists (heaviest first), the one-time layout and the lookups the
// graphs need, for nodes numbered parents first. Children that already come
// in order (as `format=tree` sends them) are not sorted again.
function finishTree(t) {
  const { name, parent, depth, weight } = t;
  const n = parent.length;
  const kidCount = new Int32Array(n);
  let maxDepth = 0;
  for (let i = 1; i < n; i++) {
    kidCount[parent[i]]++;
    if (depth[i] > maxDepth) maxDepth = depth[i];
  }
  const kidStart = new Int32Array(n);
  for (let i = 1; i < n; i++) kidStart[i] = kidStart[i - 1] + kidCount[i - 1];
  const fill = kidStart.slice();
  const kids = new Int32Array(Math.max(0, n - 1));
  for (let i = 1; i < n; i++) kids[fill[parent[i]]++] = i;
  const byWeight = (a, b) => weight[b] - weight[a] || (name[a] < name[b] ? -1 : 1);
  for (let i = 0; i < n; i++) {
    const count = kidCount[i];
    if (count < 2) continue;
    const start = kidStart[i], end = start + count;
    let sorted = true;
    for (let k = start + 1; k < end && sorted; k++) sorted = byWeight(kids[k - 1], kids[k]) <= 0;
    if (!sorted) kids.subarray(start, end).sort(byWeight);
  }
  // Layout once: ids grow with depth along every path, so parents come first.
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  const grand = weight[0] || 1;
  for (let i = 0; i < n; i++) w[i] = weight[i] / grand;
  for (let i = 0; i < n; i++) {
    let cx = x[i];
    const end = kidStart[i] + kidCount[i];
    for (let k = kidStart[i]; k < end; k++) { x[kids[k]] = cx; cx += w[kids[k]]; }
  }
  const tree = Object.assign({
    diff: false, absolute: false, sideA: null, sideB: null, selfA: null, selfB: null, nameIndex: null, names: null,
  }, t, { rootLabel: t.rootLabel || "all", size: n, maxDepth, kids, kidStart, kidCount, x, w, diffColor: null });
  if (tree.diff) tree.diffColor = diffColors(tree);
  return tree;
}

// The tree of a decoded `format=tree` answer: its arrays are used in place.
export function treeFromArrays(decoded, rootLabel) {
  const { parent, nameIndex, self, total } = decoded.nodes;
  const names = decoded.fns.names;
  const n = parent.length;
  const name = new Array(n);
  const depth = new Uint16Array(n);
  name[0] = "";
  for (let i = 1; i < n; i++) {
    name[i] = names[nameIndex[i]];
    depth[i] = depth[parent[i]] + 1;
  }
  return finishTree({ rootLabel, name, parent, depth, weight: total, selfWeight: self, nameIndex, names });
}

// Root-first stacks of a one-sided tree: `each(frames, count)` for every
// node with self samples; `frames` is reused between calls.
export function forEachStack(tree, each) {
  const path = [];
  const stack = [0];
  while (stack.length) {
    const n = stack.pop();
    const d = tree.depth[n];
    if (n !== 0) path[d - 1] = tree.name[n];
    path.length = d;
    if (tree.selfWeight[n] > 0) each(path, tree.selfWeight[n]);
    const end = tree.kidStart[n] + tree.kidCount[n];
    for (let k = end - 1; k >= tree.kidStart[n]; k--) stack.push(tree.kids[k]);
  }
}

export function nodeName(tree, n) { return n === 0 ? tree.rootLabel : tree.name[n]; }

export function pathOf(tree, n) {
  const out = [];
  for (let i = n; i > 0; i = tree.parent[i]) out.push(tree.name[i]);
  return out.reverse();
}

// The deepest node along `path` (names below the root) that exists.
export function nodeAt(tree, path) {
  let node = 0;
  for (const name of path) {
    let next = -1;
    const end = tree.kidStart[node] + tree.kidCount[node];
    for (let k = tree.kidStart[node]; k < end; k++) {
      if (tree.name[tree.kids[k]] === name) { next = tree.kids[k]; break; }
    }
    if (next < 0) break;
    node = next;
  }
  return node;
}

// Sum of `values` over the topmost nodes under `start` whose name matches:
// each sample counts once however often a matching frame repeats in it.
export function matchedSum(tree, match, values, start) {
  for (let i = start; i > 0; i = tree.parent[i]) if (match[i]) return values[start];
  let sum = 0;
  const stack = [start];
  while (stack.length) {
    const n = stack.pop();
    if (n !== 0 && match[n]) { sum += values[n]; continue; }
    const end = tree.kidStart[n] + tree.kidCount[n];
    for (let k = tree.kidStart[n]; k < end; k++) stack.push(tree.kids[k]);
  }
  return sum;
}
