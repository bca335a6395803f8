// The entry point: refreshes the view from the state, wires the controls'
// events, exposes `window.augur` for the tests, and starts.

import { $, errors } from "./util.js";
import { reloadState, state, writeState } from "./url_state.js";
import { frameInfo } from "./api.js";
import { colorOfName, PAL } from "./palette.js";
import { nodeAt, nodeName } from "./tree.js";
import { hideTooltip, zoomFrames } from "./flame.js";
import { commit, current, generation, labelCache, nextGeneration, onCommit, openSandwich, profileCache, timelineCache } from "./app.js";
import { activeGraph, calleesGraph, callersGraph, deployGraph, diffGraph, flame, matchInfo, updateMatch } from "./graphs.js";
import { lastError, loadServices, renderLabelBar, services, setSummary, showError, syncControls } from "./controls.js";
import { setDownloads } from "./export.js";
import { diffInfo, lastLoad, loadTimeline, renderTopTable, sandwichInfo, showDiff, showFlame, showSandwich, table, timeline, timelineInfo } from "./views.js";
import { deploysInfo, showDeploys } from "./deploys.js";
import { fleetInfo, showFleet } from "./fleet.js";

let busy = 0;
let renderCount = 0;

// Applies the state: controls, then whatever the view needs (cached profiles
// are reused, so switching views or zooming refetches nothing).
async function refresh() {
  const gen = nextGeneration();
  busy++;
  try {
    showError("");
    syncControls();
    hideTooltip();
    if (!state.service && state.view !== "fleet") {
      $("view-" + state.view).hidden = true;
      $("toolbar").hidden = true;
      setSummary([services.length ? "Pick a service." : "No profiles stored yet. Start an agent (augur up, or augur agent with augur server) and come back in a minute."]);
      return;
    }
    const labelsDone = state.service ? renderLabelBar(gen) : Promise.resolve();
    const timelineDone = state.view === "diff" && state.dmode === "time" ? Promise.resolve() : loadTimeline(gen, null);
    if (state.view === "flame") await showFlame(gen);
    else if (state.view === "sandwich") await showSandwich(gen);
    else if (state.view === "diff") await showDiff(gen);
    else if (state.view === "deploys") await showDeploys(gen);
    else await showFleet(gen);
    await Promise.all([labelsDone, timelineDone]);
    if (gen === generation) renderCount++;
  } catch (e) {
    if (gen === generation) {
      showError(e.message || String(e));
      setSummary([]);
      if (state.view === "flame") { setDownloads(null); flame.setTree(null); }
    }
  } finally {
    busy--;
  }
}

// Events.

$("service").addEventListener("change", () => {
  state.service = $("service").value;
  state.labels = ""; state.zoom = []; state.fn = ""; state.alabels = ""; state.aversion = ""; state.bversion = ""; state.deploy = "";
  const info = services.find((s) => s.name === state.service);
  if (info && info.profile_types.length && !info.profile_types.includes(state.type)) {
    state.type = info.profile_types.includes("cpu") ? "cpu" : info.profile_types[0];
  }
  if (state.view === "fleet") state.view = "flame";
  commit(true);
});
$("type").addEventListener("change", () => { state.type = $("type").value; state.zoom = []; commit(true); });
$("range-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.from = $("from").value.trim() || "-1h";
  state.to = $("to").value.trim() || "now";
  state.zoom = [];
  commit(true);
});
$("reload").addEventListener("click", () => {
  profileCache.clear(); timelineCache.clear(); labelCache.clear();
  busy++;
  loadServices().then(() => refresh()).finally(() => { busy--; });
});
for (const tab of document.querySelectorAll("nav.tabs > button[data-view]")) {
  tab.addEventListener("click", () => { state.view = tab.dataset.view; commit(true); });
}
$("layout-flame").addEventListener("click", () => setLayout("flame"));
$("layout-icicle").addEventListener("click", () => setLayout("icicle"));
function setLayout(layout) {
  if (state.layout === layout) return;
  state.layout = layout;
  writeState(false);
  syncControls();
  for (const g of [flame, diffGraph, deployGraph]) { if (g.tree) { g.layoutHeight(true); g.draw(); } }
}

let searchTimer = 0;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applySearch, 120);
});
$("search").addEventListener("keydown", (e) => {
  if (e.key === "Enter") { clearTimeout(searchTimer); applySearch(); }
  if (e.key === "Escape") { $("search").value = ""; applySearch(); $("search").blur(); }
});
function applySearch() {
  state.search = $("search").value.trim();
  writeState(false);
  for (const g of [flame, diffGraph, deployGraph, callersGraph, calleesGraph]) if (g.tree) g.setSearch(state.search);
  updateMatch();
}

$("top-filter").addEventListener("input", () => { table.filter = $("top-filter").value.trim(); table.limit = 200; renderTopTable(); });
for (const th of document.querySelectorAll("[data-testid=top-table] th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    if (table.key === key) table.dir = -table.dir; else { table.key = key; table.dir = key === "name" ? 1 : -1; }
    renderTopTable();
  });
}

$("sandwich-go").addEventListener("click", () => openSandwich($("sandwich-fn").value.trim()));
$("sandwich-fn").addEventListener("keydown", (e) => { if (e.key === "Enter") openSandwich($("sandwich-fn").value.trim()); });

for (const b of document.querySelectorAll("[data-dmode]")) {
  b.addEventListener("click", () => { state.dmode = b.dataset.dmode; state.zoom = []; commit(true); });
}
$("diff-aversion").addEventListener("change", () => { state.aversion = $("diff-aversion").value; });
$("diff-bversion").addEventListener("change", () => { state.bversion = $("diff-bversion").value; });
$("diff-apply").addEventListener("click", () => {
  state.afrom = $("diff-afrom").value.trim();
  state.ato = $("diff-ato").value.trim();
  state.aversion = $("diff-aversion").value;
  state.bversion = $("diff-bversion").value;
  state.zoom = [];
  commit(true);
});

document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (e.key === "/" && !typing) { e.preventDefault(); $("search").focus(); }
  if (e.key === "Escape" && !typing) { const g = activeGraph(); if (g && g.tree && g.zoomNode !== 0) g.zoomTo(0, true); }
});

window.addEventListener("popstate", () => { reloadState(); refresh(); });
window.addEventListener("resize", () => { for (const g of [flame, diffGraph, deployGraph, callersGraph, calleesGraph]) g.resize(); timeline.draw(); });

// Test hooks: the tests and ui_bench read the page through `window.augur`.

function summarize(values) {
  if (!values.length) return { frames: 0, meanMs: 0, p95Ms: 0, maxMs: 0 };
  const sorted = values.slice().sort((a, b) => a - b);
  return {
    frames: values.length,
    meanMs: values.reduce((a, b) => a + b, 0) / values.length,
    p95Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))],
    maxMs: sorted[sorted.length - 1],
  };
}

window.augur = {
  // The view as the tests see it. `matchedShare` is a fraction (0..1).
  state() {
    const graph = activeGraph() || (state.view === "sandwich" ? calleesGraph : null);
    const stats = graph ? graph.stats : { nodesDrawn: 0, otherNodes: 0, mergedFrames: 0, lastRenderMs: 0 };
    return {
      service: state.service, type: state.type, from: state.from, to: state.to, labels: state.labels,
      view: state.view, layout: state.layout, zoomPath: state.zoom.slice(), search: state.search, fn: state.fn,
      dmode: state.dmode, afrom: state.afrom, ato: state.ato, alabels: state.alabels, aversion: state.aversion, bversion: state.bversion,
      matchedShare: matchInfo ? matchInfo.share : 0,
      matchedShareOfView: matchInfo ? matchInfo.ofView : 0,
      nodesDrawn: stats.nodesDrawn, otherNodes: stats.otherNodes, mergedFrames: stats.mergedFrames, lastRenderMs: stats.lastRenderMs,
      nodesTotal: graph && graph.tree ? graph.tree.size - 1 : 0,
      totalSamples: current ? current.json.total_samples : 0,
      resolvedFrom: current ? current.json.from : "", resolvedTo: current ? current.json.to : "",
      busy: busy > 0, renderCount, error: lastError, errors: errors.slice(),
      load: lastLoad, timeline: Object.assign({}, timelineInfo), diff: Object.assign({}, diffInfo),
      sandwich: Object.assign({}, sandwichInfo), fleet: Object.assign({}, fleetInfo), deploys: Object.assign({}, deploysInfo),
      deploy: state.deploy, url: location.href,
    };
  },
  // Resolves once nothing is loading or animating.
  async whenIdle() {
    for (;;) {
      const animating = [flame, diffGraph, deployGraph, callersGraph, calleesGraph].some((g) => g.anim);
      if (busy === 0 && !animating) return this.state();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  },
  // A drawn box in client coordinates: by exact name, or (name omitted) the
  // widest real frame at `depth` (default 1) of the active flame graph.
  frameRect(name, depth) {
    const graph = activeGraph() || calleesGraph;
    if (!graph.tree) return null;
    const want = depth === undefined ? 1 : depth;
    return graph.boxRect((n, r) => n > 0 && (name ? nodeName(graph.tree, n) === name : graph.rd[r] === want));
  },
  otherRect() { const g = activeGraph() || flame; return g.tree ? g.boxRect((n) => n < 0) : null; },
  // What the page knows of a function: language, source and drawn color.
  frameInfo(name) {
    const info = frameInfo.get(name);
    return info ? Object.assign({ color: PAL[colorOfName(name)] }, info) : null;
  },
  zoomStats() { return { work: summarize(zoomFrames.work), interval: summarize(zoomFrames.interval) }; },
  resetZoomStats() { zoomFrames.work.length = 0; zoomFrames.interval.length = 0; },
  zoomTo(path) { const g = activeGraph(); if (g && g.tree) g.zoomTo(nodeAt(g.tree, path), true); },
};

// Start.

onCommit(refresh);
syncControls();
busy++;
loadServices().then(() => refresh()).finally(() => { busy--; });
