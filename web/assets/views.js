// The flame graph, sandwich and diff views, the top-functions table, and the
// samples-over-time chart above them.

import { $, fmtBytes, fmtInt, fmtPct, fmtSignedPp, fmtWeight, formatLabels, h, isoMs, nextFrame, nextTask, parseLabels, parseTimeMs, shortTime, withLabel } from "./util.js";
import { state, writeState } from "./url_state.js";
import { apiUrl, frameInfo, getJson, selection } from "./api.js";
import { pathOf, TreeBuilder } from "./tree.js";
import { renderUnnamedHelp, unnamed } from "./unnamed.js";
import { Timeline } from "./timeline.js";
import { commit, current, generation, getLabels, getProfile, openSandwich, setCurrent, timelineCache } from "./app.js";
import { calleesGraph, callersGraph, diffGraph, flame, normalizeZoom, renderCrumbs, updateMatch } from "./graphs.js";
import { describeProfile, setSummary, syncControls } from "./controls.js";
import { setDownloads } from "./export.js";

// What the last draws did, for `window.augur.state()` (main.js).
export let lastLoad = null;               // timings of the last first draw
export let timelineInfo = { available: null, points: 0, error: "" };
export let diffInfo = { ready: false };
export let sandwichInfo = { fn: "", ready: false };

export const timeline = new Timeline($("timeline"), onTimelineSelect);

export async function showFlame(gen) {
  const p = await getProfile(selection());
  if (gen !== generation) return;
  setCurrent(p);
  setSummary(describeProfile(p));
  setDownloads(p);
  flame.setTree(p.tree, state.zoom, state.search);
  if (!p.drawn) {
    p.drawn = true;
    p.timings.drawMs = flame.stats.lastRenderMs;
    p.timings.firstDrawMs = performance.now() - p.timings.start;
    p.timings.nodes = p.tree.size;
    lastLoad = Object.assign({}, p.timings);
    nextFrame().then(nextFrame).then(() => { lastLoad.paintedMs = performance.now() - p.timings.start; });
  }
  normalizeZoom(flame);
  renderCrumbs();
  updateMatch();
  await nextTask();
  if (gen !== generation) return;
  renderTopTable(p, true);
}


// Top-functions table: sortable, filterable, bounded rows.
export const table = { key: "self", dir: -1, filter: "", limit: 200, profile: null };
export function renderTopTable(p, reset) {
  if (reset) { table.profile = p; table.limit = 200; }
  p = table.profile;
  if (!p) return;
  const json = p.json;
  const total = json.total_samples || 1;
  // Rows are function indices (already in self-descending order).
  const { names, self, total: totals } = p.fns;
  let rows = [];
  const filter = table.filter.toLowerCase();
  for (let i = 0; i < names.length; i++) if (!filter || names[i].toLowerCase().includes(filter)) rows.push(i);
  if (!(table.key === "self" && table.dir === -1)) {
    const k = table.key === "self" ? self : totals, dir = table.dir;
    rows.sort(table.key === "name"
      ? (a, b) => dir * (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0)
      : (a, b) => dir * (k[a] - k[b]) || (names[a] < names[b] ? -1 : 1));
  }
  const shown = rows.slice(0, table.limit).map((i) => ({ name: names[i], self: self[i], total: totals[i] }));
  const maxSelf = names.length ? self[0] : 0;
  const fragment = document.createDocumentFragment();
  for (const f of shown) {
    const u = unnamed(f.name);
    const info = frameInfo.get(f.name);
    const source = info && info.source ? "\n" + info.language + ", " + info.source : "";
    fragment.append(h("tr", { "data-testid": "top-row" },
      h("td", { class: "name" }, h("button", { type: "button", text: f.name, class: u ? "unnamed" : null, title: "Sandwich view of " + f.name + source + (u ? "\n" + u.what : ""), onclick: () => openSandwich(f.name) })),
      h("td", { text: fmtWeight(f.self, json) }),
      h("td", { text: fmtPct(f.self / total) }),
      h("td", { class: "bar" }, h("div", { style: "width:" + (maxSelf > 0 ? (100 * f.self) / maxSelf : 0) + "%" })),
      h("td", { text: fmtWeight(f.total, json) }),
      h("td", { text: fmtPct(f.total / total) })));
  }
  if (!shown.length) fragment.append(h("tr", null, h("td", { colspan: "6", class: "hint", text: filter ? "No function matches the filter." : "No functions in this selection." })));
  $("top-body").replaceChildren(fragment);
  if (reset) renderUnnamedHelp($("top-unnamed"), names.map((name, i) => ({ name, share: self[i] / total })), "the self time");
  for (const th of document.querySelectorAll("[data-testid=top-table] th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === table.key ? (table.dir < 0 ? "descending" : "ascending") : "none");
  }
  $("top-caption").textContent = fmtInt(rows.length) + (filter ? " matching" : "") + " functions";
  const more = $("top-more");
  more.hidden = rows.length <= shown.length;
  if (!more.hidden) {
    more.replaceChildren("Showing " + fmtInt(shown.length) + " of " + fmtInt(rows.length) + ". ",
      h("button", { type: "button", text: "Show " + fmtInt(Math.min(rows.length, table.limit * 5) - shown.length) + " more", onclick: () => { table.limit *= 5; renderTopTable(); } }));
  }
}

export async function showSandwich(gen) {
  const p = await getProfile(selection());
  if (gen !== generation) return;
  setCurrent(p);
  setSummary(describeProfile(p));
  setDownloads(p);
  const names = p.fns.names;
  $("sandwich-names").replaceChildren(...names.slice(0, 500).map((name) => h("option", { value: name })));
  if (!state.fn && names.length) { state.fn = names[0]; writeState(false); }
  $("sandwich-fn").value = state.fn;
  $("sandwich-title-callers").textContent = state.fn;
  $("sandwich-title-callees").textContent = state.fn;
  // Every sample with the function, at its outermost call: the topmost
  // nodes of that name. Callers are their paths reversed, callees their
  // subtrees merged.
  const tree = p.tree;
  const callers = new TreeBuilder(1), callees = new TreeBuilder(1);
  let found = 0;
  const stack = [0];
  while (stack.length) {
    const n = stack.pop();
    if (n !== 0 && tree.name[n] === state.fn) {
      found += tree.weight[n];
      callers.add(pathOf(tree, tree.parent[n]).reverse(), tree.weight[n]);
      callees.addTree(tree, n);
      continue;
    }
    const end = tree.kidStart[n] + tree.kidCount[n];
    for (let k = tree.kidStart[n]; k < end; k++) stack.push(tree.kids[k]);
  }
  callersGraph.setTree(callers.finish(state.fn), [], state.search);
  calleesGraph.setTree(callees.finish(state.fn), [], state.search);
  if (!found) {
    for (const g of [callersGraph, calleesGraph]) g.empty.textContent = "No samples of " + (state.fn || "this function") + " in this selection.";
  }
  sandwichInfo = { fn: state.fn, ready: true, samples: found, callers: callersGraph.tree.size - 1, callees: calleesGraph.tree.size - 1 };
  updateMatch();
}

function diffSides(resolvedMain) {
  const main = selection();
  if (state.dmode === "labels") {
    return [selection({ labels: state.alabels }), main];
  }
  if (state.dmode === "version") {
    return [selection({ labels: withLabel(state.labels, "version", state.aversion) }), selection({ labels: withLabel(state.labels, "version", state.bversion) })];
  }
  let afrom = state.afrom, ato = state.ato;
  if (!afrom || !ato) {
    // Default: the same length of time just before the second range.
    const from = parseTimeMs(resolvedMain.from), to = parseTimeMs(resolvedMain.to);
    afrom = isoMs(from - (to - from));
    ato = isoMs(from);
    state.afrom = afrom; state.ato = ato;
    writeState(false);
  }
  return [selection({ from: afrom, to: ato }), main];
}

export async function showDiff(gen) {
  diffInfo = { ready: false };
  const labels = await getLabels(state.service).catch(() => ({}));
  if (gen !== generation) return;
  renderDiffControls(labels);
  if (state.dmode === "version" && (!state.aversion || !state.bversion)) {
    const versions = labels.version || [];
    if (versions.length < 2) {
      setSummary([versions.length ? "Only one version (" + versions[0] + ") of " + state.service + " has samples; a deploy diff needs two." : state.service + " has no version label: compare time ranges or label sets instead."]);
      diffGraph.setTree(null);
      return;
    }
    state.aversion = state.aversion || versions[versions.length - 2];
    state.bversion = state.bversion || versions[versions.length - 1];
    writeState(false);
    renderDiffControls(labels);
  }
  const main = await getProfile(selection());
  if (gen !== generation) return;
  setCurrent(main);
  setDownloads(main);
  const [selA, selB] = diffSides(main.json);
  renderDiffControls(labels);
  const [a, b] = await Promise.all([getProfile(selA), getProfile(selB)]);
  if (gen !== generation) return;
  const builder = new TreeBuilder(2);
  builder.addTree(a.tree, 0, 0);
  builder.addTree(b.tree, 0, 1);
  // Memory in use (a gauge): "what grew", in bytes, not shares.
  const tree = builder.finish("all", b.json.aggregation === "gauge");
  diffGraph.setTree(tree, state.zoom, state.search);
  normalizeZoom(diffGraph);
  const amount = (p) => p.json.aggregation === "gauge" ? fmtWeight(p.json.total_samples, p.json) + " (mean)" : fmtInt(p.json.total_samples) + " samples";
  const side = (p, label) => [h("strong", { text: label }), ": " + amount(p) + ", " + shortTime(p.json.from) + " \u2192 " + shortTime(p.json.to) + (formatLabels(p.json.labels) ? " \u00b7 " + formatLabels(p.json.labels) : "")];
  setSummary([...side(a, "First"), " \u00a0|\u00a0 ", ...side(b, "Second")]);
  const changes = diffTable(a, b);
  diffInfo = {
    ready: true, mode: state.dmode, nodes: tree.size - 1, first: a.json.total_samples, second: b.json.total_samples,
    increases: changes.up.length, decreases: changes.down.length, firstLabels: a.sel.labels, secondLabels: b.sel.labels,
    absolute: tree.absolute, topIncrease: changes.up.length ? changes.up[0].name : "", topDecrease: changes.down.length ? changes.down[0].name : "",
    firstRange: [a.json.from, a.json.to], secondRange: [b.json.from, b.json.to],
  };
  renderCrumbs();
  updateMatch();
  if (state.dmode === "time") await loadTimeline(gen, [a.json, b.json]);
}

function renderDiffControls(labels) {
  $("diff-afrom").value = state.afrom;
  $("diff-ato").value = state.ato;
  const chosen = parseLabels(state.alabels);
  const holder = $("diff-alabels");
  holder.replaceChildren(...Object.keys(labels).sort().map((name) => {
    const select = h("select", { "data-testid": "diff-label-" + name },
      h("option", { value: "", text: "any" }), ...labels[name].map((v) => h("option", { value: v, text: v })));
    select.value = chosen[name] || "";
    select.addEventListener("change", () => { state.alabels = withLabel(state.alabels, name, select.value); });
    return h("label", { class: "chip" }, h("span", { text: name }), select);
  }));
  if (!Object.keys(labels).length) holder.replaceChildren(h("span", { class: "hint", text: "(no labels)" }));
  const versions = labels.version || [];
  for (const [id, value] of [["diff-aversion", state.aversion], ["diff-bversion", state.bversion]]) {
    const select = $(id);
    select.replaceChildren(...versions.map((v) => h("option", { value: v, text: v })));
    if (!versions.length) select.append(h("option", { value: "", text: "(no versions)" }));
    select.value = value;
  }
}

// Functions whose self share grew or shrank most; for a gauge (memory in
// use), whose self amount did.
function diffTable(a, b) {
  const absolute = b.json.aggregation === "gauge";
  const A = absolute ? 1 : a.json.total_samples || 1, B = absolute ? 1 : b.json.total_samples || 1;
  const show = absolute ? (v) => fmtWeight(v, b.json) : fmtPct;
  const change = absolute ? (v) => (v < 0 ? "\u2212" : "+") + fmtWeight(Math.abs(v), b.json) : fmtSignedPp;
  const rows = new Map();
  a.fns.names.forEach((name, i) => rows.set(name, { name, a: a.fns.self[i] / A, b: 0 }));
  b.fns.names.forEach((name, i) => {
    const row = rows.get(name);
    if (row) row.b = b.fns.self[i] / B; else rows.set(name, { name, a: 0, b: b.fns.self[i] / B });
  });
  const all = [...rows.values()].map((r) => Object.assign(r, { d: r.b - r.a }));
  const up = all.filter((r) => r.d > 0).sort((x, y) => y.d - x.d).slice(0, 15);
  const down = all.filter((r) => r.d < 0).sort((x, y) => x.d - y.d).slice(0, 15);
  const fill = (body, list, cls) => {
    body.replaceChildren(...list.map((r) => h("tr", { "data-testid": "diff-row" },
      h("td", { class: "name" }, h("button", { type: "button", text: r.name, title: "Highlight in the diff", onclick: () => { state.search = r.name; writeState(false); syncControls(); diffGraph.setSearch(r.name); updateMatch(); } })),
      h("td", { text: show(r.a) }), h("td", { text: show(r.b) }), h("td", { class: cls, text: change(r.d) }))));
    if (!list.length) body.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "hint", text: "None." })));
  };
  fill($("diff-up"), up, "up");
  fill($("diff-down"), down, "down");
  return { up, down };
}

// `profiles`: resolved ranges to mark (a diff's two sides); the chart covers them all.
export async function loadTimeline(gen, profiles) {
  const box = $("timeline-box");
  if (state.view === "fleet" || state.view === "deploys" || !state.service) { box.hidden = true; return; }
  let sel = selection();
  const marks = [];
  if (profiles) {
    const times = profiles.flatMap((p) => [parseTimeMs(p.from), parseTimeMs(p.to)]);
    sel = selection({ from: isoMs(Math.min(...times)), to: isoMs(Math.max(...times)) });
    marks.push({ from: times[0], to: times[1], color: "rgba(47,111,214,0.16)" });
    marks.push({ from: times[2], to: times[3], color: "rgba(196,70,27,0.13)" });
  }
  const url = apiUrl("api/v1/timeline", sel);
  let entry = timelineCache.get(url);
  if (!entry) {
    entry = getJson(url);
    timelineCache.set(url, entry);
    entry.catch(() => timelineCache.delete(url));
    while (timelineCache.size > 8) timelineCache.delete(timelineCache.keys().next().value);
  }
  let json;
  try {
    json = await entry;
  } catch (e) {
    if (gen !== generation) return;
    // Older servers have no timeline: the rest of the page works without it.
    timelineInfo = { available: false, points: 0, error: e.message, status: e.status || 0 };
    box.hidden = true;
    return;
  }
  if (gen !== generation) return;
  let from = parseTimeMs(json.from), to = parseTimeMs(json.to);
  if (from === null || to === null) {
    const r = current && current.json;
    from = r ? parseTimeMs(r.from) : Date.now() - 3600e3;
    to = r ? parseTimeMs(r.to) : Date.now();
  }
  const points = (json.points || []).map((p) => ({ t: p.unix_nanos / 1e6, v: p.samples }));
  // A gauge (memory in use) plots its mean per minute in its unit.
  const gauge = json.aggregation === "gauge";
  const what = gauge ? (json.unit === "bytes" ? "In use per minute (mean)" : "Mean per minute") : "Samples per minute";
  const format = json.unit === "bytes" ? fmtBytes : (v) => fmtInt(v) + (gauge ? "" : " samples");
  timelineInfo = { available: true, points: points.length, error: "", from: isoMs(from), to: isoMs(to) };
  box.hidden = false;
  $("timeline-hint").textContent = profiles
    ? what + ". Blue: first range, red: second. Drag selects the second range, shift-drag the first."
    : what + ". Drag to select a range" + (state.view === "diff" ? "." : "; shift-drag picks a diff's first range" + (gauge ? ": the diff shows what grew." : "."));
  timeline.set({ from, to, stepMs: (json.step_seconds || 60) * 1000, points, marks, format });
}

function onTimelineSelect(fromMs, toMs, baseline) {
  if (baseline) {
    state.afrom = isoMs(fromMs); state.ato = isoMs(toMs);
    state.view = "diff"; state.dmode = "time";
  } else {
    state.from = isoMs(fromMs); state.to = isoMs(toMs);
    state.zoom = [];
  }
  commit(true);
}
