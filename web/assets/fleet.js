// The fleet view: top services, functions and binaries across every service.

import { $, fmtNs, fmtPct, h, shortTime } from "./util.js";
import { state } from "./url_state.js";
import { getJson } from "./api.js";
import { renderUnnamedHelp, unnamed } from "./unnamed.js";
import { commit, generation } from "./app.js";
import { setSummary } from "./controls.js";
import { setDownloads } from "./export.js";

export let fleetInfo = { ready: false };

export async function showFleet(gen) {
  fleetInfo = { ready: false };
  setDownloads(null);
  const q = new URLSearchParams({ from: state.from, to: state.to, limit: "25" });
  const reports = ["services", "functions", "binaries"];
  const answers = await Promise.all(reports.map((r) => getJson("api/v1/fleet/" + r + "?" + q).catch((e) => ({ error: e.message, rows: [] }))));
  if (gen !== generation) return;
  const info = { ready: true };
  reports.forEach((report, i) => {
    const answer = answers[i];
    const rows = answer.rows || [];
    info[report] = rows.length;
    const max = rows.reduce((m, r) => Math.max(m, r.share), 0);
    const body = $("fleet-" + report);
    body.replaceChildren(...rows.map((r) => h("tr", { "data-testid": "fleet-row" },
      h("td", { class: "name" }, report === "services"
        ? h("button", { type: "button", text: r.name, title: "Open the flame graph of " + r.name, onclick: () => { state.service = r.name; state.view = "flame"; state.labels = ""; state.zoom = []; state.fn = ""; commit(true); } })
        : report === "functions" ? fleetFunction(r.name) : r.name),
      h("td", { text: fmtNs(r.cpu_ns) }),
      h("td", { text: fmtPct(r.share) }),
      h("td", { class: "bar" }, h("div", { style: "width:" + (max > 0 ? (100 * r.share) / max : 0) + "%" })))));
    if (!rows.length) body.replaceChildren(h("tr", null, h("td", { colspan: "4", class: "hint", text: answer.error || "No samples in this range." })));
    if (i === 0 && answer.from) setSummary(["Fleet \u00b7 " + shortTime(answer.from) + " \u2192 " + shortTime(answer.to) + " UTC"]);
    if (report === "functions") renderUnnamedHelp($("fleet-unnamed"), rows, "the fleet's CPU");
  });
  fleetInfo = info;
}

// A fleet function's name, as a search of the flame graph where one finds
// it: a binary's unsymbolized frames are searched as `[gzip+`.
function fleetFunction(name) {
  const u = unnamed(name);
  const search = u && u.kind === "symbols" && "search" in u ? u.search : name;
  if (!search) return h("span", { class: "unnamed", text: name, title: u.what });
  return h("button", {
    type: "button", text: name, class: u ? "unnamed" : null,
    title: (u ? u.what + "\n" : "") + "Search for it in the flame graph",
    onclick: () => { state.search = search; state.view = "flame"; commit(true); },
  });
}
