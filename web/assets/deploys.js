// The deploys view: each value of the version label, compared with the one
// before it, as a table of changed functions and a differential flame graph.

import { $, fmtInt, fmtPct, fmtShort, formatLabels, h, isoMs, parseTimeMs, shortTime } from "./util.js";
import { state, writeState } from "./url_state.js";
import { getJson, selection } from "./api.js";
import { TreeBuilder } from "./tree.js";
import { commit, generation, getProfile } from "./app.js";
import { deployGraph, normalizeZoom, renderCrumbs, updateMatch } from "./graphs.js";
import { setSummary, syncControls } from "./controls.js";
import { setDownloads } from "./export.js";

export let deploysInfo = { ready: false };

// A deploy's profile as the server compares it: every sample of its
// version (other label filters do not apply) over the windows it ran in,
// the last of which may be a rolled-up hour.
function deploySelection(d) {
  return selection({ labels: formatLabels({ version: d.version }), from: d.first_seen, to: isoMs(parseTimeMs(d.last_seen) + 3600e3) });
}

function plural(n, word) { return fmtInt(n) + " " + word + (n === 1 ? "" : "s"); }

function fmtChange(change) {
  if (!Number.isFinite(change)) return "new";
  return (change > 0 ? "+" : change < 0 ? "\u2212" : "\u00b1") + Math.abs(change * 100).toFixed(1) + "%";
}

// History from /api/v1/deploys; the selected deploy's comparison with the
// one before it (the listed one when ready, else /api/v1/deploys/compare),
// and the two deploys' differential flame graph.
export async function showDeploys(gen) {
  deploysInfo = { ready: false };
  setDownloads(null);
  const q = { service: state.service };
  if (state.type !== "cpu") q.type = state.type;
  const answer = await getJson("api/v1/deploys?" + new URLSearchParams(q));
  if (gen !== generation) return;
  const deploys = answer.deploys || [];
  const comparisons = new Map((answer.comparisons || []).map((c) => [c.target, c]));
  if (!state.deploy || !deploys.some((d) => d.version === state.deploy)) {
    const fallback = deploys.length > 1 ? deploys[deploys.length - 1].version : "";
    if (state.deploy !== fallback) { state.deploy = fallback; writeState(false); }
  }
  const body = $("deploy-rows");
  body.replaceChildren(...deploys.map((d, i) => {
    const c = comparisons.get(d.version);
    const verdict = i === 0 ? "first deploy"
      : !c || !c.ready ? "not enough samples yet"
      : c.diff.regressions.length || c.diff.improvements.length
        ? plural(c.diff.regressions.length, "regression") + ", " + plural(c.diff.improvements.length, "improvement")
        : "no significant change";
    const pick = () => { state.deploy = d.version; state.zoom = []; commit(true); };
    return h("tr", { "data-testid": "deploy-row", "data-version": d.version, "aria-selected": String(d.version === state.deploy), class: d.version === state.deploy ? "selected" : "" },
      h("td", { class: "name" }, i === 0 ? d.version : h("button", { type: "button", text: d.version, title: "Compare with " + deploys[i - 1].version, onclick: pick })),
      h("td", { class: "ids", text: d.build_ids.map((b) => b.slice(0, 12)).join(", "), title: d.build_ids.join("\n") }),
      h("td", { text: shortTime(d.first_seen) }),
      h("td", { text: shortTime(d.last_seen) }),
      h("td", { text: d.hosts.join(", ") }),
      h("td", { text: fmtInt(d.cpu_samples) }),
      h("td", { text: verdict }));
  }));
  if (!deploys.length) body.replaceChildren(h("tr", null, h("td", { colspan: "7", class: "hint", text: state.service + " has no version label, so no deploys." })));
  const index = deploys.findIndex((d) => d.version === state.deploy);
  const changesBody = $("deploy-change-rows");
  if (index < 1) {
    $("deploy-title").textContent = "";
    $("deploy-note").textContent = deploys.length === 1 ? "Only one deploy so far: nothing to compare it with." : "";
    changesBody.replaceChildren();
    deployGraph.setTree(null);
    setSummary([fmtInt(deploys.length) + " deploys of " + state.service]);
    deploysInfo = { ready: true, deploys: deploys.length, selected: state.deploy, base: "", changes: 0, flagged: 0 };
    return;
  }
  const base = deploys[index - 1], target = deploys[index];
  $("deploy-title").replaceChildren(base.version + " \u2192 " + target.version, h("small", { text: shortTime(target.first_seen) + " UTC" }));
  let comparison = comparisons.get(target.version);
  let diff = comparison && comparison.ready ? comparison.diff : null;
  const [full, a, b] = await Promise.all([
    diff ? Promise.resolve(null) : getJson("api/v1/deploys/compare?" + new URLSearchParams(Object.assign({ base: base.version, target: target.version }, q))),
    getProfile(deploySelection(base)),
    getProfile(deploySelection(target)),
  ]);
  if (gen !== generation) return;
  if (!diff) diff = full.diff;
  $("deploy-note").textContent = (comparison && comparison.ready ? "" : "Fewer samples than the server waits for before it compares on its own: read with care. ")
    + fmtInt(diff.tested) + " functions tested; flagged: p < 0.005 after Bonferroni (web/API.md). "
    + "Shares are of each deploy's own samples; impact is the extra CPU time the change costs.";
  // Total shares per function from the two profiles.
  const totalShare = (p) => {
    const out = new Map(), all = p.json.total_samples || 1;
    p.fns.names.forEach((name, i) => out.set(name, p.fns.total[i] / all));
    return out;
  };
  const totalA = totalShare(a), totalB = totalShare(b);
  const flagged = new Set([...diff.regressions, ...diff.improvements].map((r) => r.name));
  const rows = [...diff.regressions, ...diff.improvements, ...diff.all.filter((r) => !flagged.has(r.name))];
  const timed = b.json.profile_type.unit === "nanoseconds";
  changesBody.replaceChildren(...rows.map((r) => {
    // `change` is normalized (the median function's ratio is 1), unlike the raw shares.
    const up = !Number.isFinite(r.change) || r.change > 0;
    const kind = flagged.has(r.name) ? (up ? "regression" : "improvement") : r.change === 0 ? "same" : up ? "more" : "less";
    const tone = r.change === 0 ? "" : up ? "up" : "down";
    return h("tr", { "data-testid": "deploy-change-row", "data-name": r.name, "data-flagged": String(r.significant) },
      h("td", { class: "name" }, h("button", { type: "button", text: r.name, title: "Highlight in the flame graph", onclick: () => { state.search = r.name; writeState(false); syncControls(); deployGraph.setSearch(r.name); updateMatch(); } })),
      h("td", { class: tone, text: kind }),
      h("td", { text: fmtPct(r.base_share) + " \u2192 " + fmtPct(r.target_share) }),
      h("td", { text: fmtPct(totalA.get(r.name) || 0) + " \u2192 " + fmtPct(totalB.get(r.name) || 0) }),
      h("td", { class: tone, text: fmtChange(r.change) }),
      h("td", { text: timed ? (r.impact >= 0 ? "+" : "\u2212") + (Math.abs(r.impact) / 1e9).toFixed(2) + " CPU-s" : fmtShort(r.impact) }),
      h("td", { text: typeof r.p_value !== "number" ? "\u2013" : r.p_value < 1e-3 ? r.p_value.toExponential(1) : r.p_value.toFixed(3) }),
      h("td", { text: r.significant ? "yes" : "no" }));
  }));
  if (!rows.length) changesBody.replaceChildren(h("tr", null, h("td", { colspan: "8", class: "hint", text: "No function changed." })));
  const builder = new TreeBuilder(2);
  builder.addTree(a.tree, 0, 0);
  builder.addTree(b.tree, 0, 1);
  const tree = builder.finish("all");
  deployGraph.setTree(tree, state.zoom, state.search);
  normalizeZoom(deployGraph);
  setSummary([h("strong", { text: base.version }), ": " + fmtInt(a.json.total_samples) + " samples \u00a0|\u00a0 ", h("strong", { text: target.version }), ": " + fmtInt(b.json.total_samples) + " samples"]);
  deploysInfo = {
    ready: true, deploys: deploys.length, selected: target.version, base: base.version, changes: rows.length,
    flagged: flagged.size, regressions: diff.regressions.length, improvements: diff.improvements.length,
    nodes: tree.size - 1, first: a.json.total_samples, second: b.json.total_samples,
  };
  renderCrumbs();
  updateMatch();
}
