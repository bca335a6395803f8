// The page's five flame graphs, which of them the view shows, and the zoom
// path and search-match line above it.

import { $, fmtPct, fmtWeight, h } from "./util.js";
import { state, writeState } from "./url_state.js";
import { nodeName } from "./tree.js";
import { FlameGraph } from "./flame.js";
import { current, openSandwich } from "./app.js";

function icicleLayout() { return state.layout === "icicle"; }

export const flame = new FlameGraph($("flame"), {
  testid: "flame", icicle: icicleLayout,
  onZoom: (path) => { state.zoom = path; writeState(false); renderCrumbs(); updateMatch(); },
  onSandwich: (name) => openSandwich(name),
  format: (v) => fmtWeight(v, current && current.json),
});
export const diffGraph = new FlameGraph($("diff"), {
  testid: "diff", icicle: icicleLayout,
  onZoom: (path) => { state.zoom = path; writeState(false); renderCrumbs(); updateMatch(); },
  onSandwich: (name) => openSandwich(name),
  format: (v) => fmtWeight(v, current && current.json),
});
export const deployGraph = new FlameGraph($("deploy-flame"), {
  testid: "deploy", icicle: icicleLayout,
  onZoom: (path) => { state.zoom = path; writeState(false); renderCrumbs(); updateMatch(); },
  onSandwich: (name) => openSandwich(name),
});
export const callersGraph = new FlameGraph($("sandwich-callers"), {
  testid: "callers", icicle: () => false, maxHeight: 0.4,
  onSandwich: (name) => openSandwich(name),
  format: (v) => fmtWeight(v, current && current.json),
});
export const calleesGraph = new FlameGraph($("sandwich-callees"), {
  testid: "callees", icicle: () => true, maxHeight: 0.4,
  onSandwich: (name) => openSandwich(name),
  format: (v) => fmtWeight(v, current && current.json),
});

export function activeGraph() {
  if (state.view === "diff") return diffGraph;
  if (state.view === "deploys") return deployGraph;
  if (state.view === "flame") return flame;
  return null;
}

export function renderCrumbs() {
  const graph = activeGraph();
  const bar = $("crumbs");
  if (!graph || !graph.tree) { bar.replaceChildren(); return; }
  const tree = graph.tree;
  const chain = [];
  for (let n = graph.zoomNode; n >= 0; n = tree.parent[n]) chain.push(n);
  chain.reverse();
  const items = [];
  chain.forEach((n, i) => {
    if (i > 0) items.push(h("span", { class: "sep", text: "\u203a" }));
    items.push(h("button", {
      type: "button", "data-testid": "crumb", title: nodeName(tree, n), text: nodeName(tree, n),
      onclick: () => graph.zoomTo(n, true),
    }));
  });
  bar.replaceChildren(...items);
}

export let matchInfo = null;
export function updateMatch() {
  const graph = activeGraph() || (state.view === "sandwich" ? calleesGraph : null);
  const out = $("search-match");
  matchInfo = graph && graph.tree ? graph.matched() : null;
  if (!matchInfo) { out.replaceChildren(); return; }
  const parts = [h("strong", { text: fmtPct(matchInfo.share) })];
  if (graph.tree.diff) {
    parts.push(" of second, " + fmtPct(matchInfo.shareA) + " of first");
  } else {
    parts.push(graph === calleesGraph ? " of its samples call a match" : " of samples matched");
    if (graph.zoomNode !== 0) parts.push(" (" + fmtPct(matchInfo.ofView) + " of view)");
  }
  out.replaceChildren(...parts);
}

// The URL's zoom path may name frames this profile lacks: keep what exists.
export function normalizeZoom(graph) {
  const path = graph.zoomPath();
  if (path.length !== state.zoom.length) { state.zoom = path; writeState(false); }
}
