// The whole view lives in the query string, so a reload or a shared link
// shows the same view. `state` is the parsed query; modules change its
// fields and then call `commit` (app.js), which writes it back here.

import { decodePath, encodePath, formatLabels, parseLabels } from "./util.js";

export const VIEWS = ["flame", "sandwich", "diff", "deploys", "fleet"];
export const PRESETS = ["5m", "15m", "1h", "6h", "24h", "7d"];
const DIFF_MODES = ["time", "labels", "version"];

function readState() {
  const p = new URLSearchParams(location.search);
  const range = p.get("range");
  const pick = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);
  return {
    service: p.get("service") || "",
    type: p.get("type") || "cpu",
    from: p.get("from") || (range ? "-" + range : "-1h"),
    to: p.get("to") || "now",
    labels: formatLabels(parseLabels(p.get("labels"))),
    view: pick(p.get("view"), VIEWS, "flame"),
    layout: pick(p.get("layout"), ["flame", "icicle"], "flame"),
    zoom: decodePath(p.get("zoom") || ""),
    search: p.get("search") || "",
    fn: p.get("fn") || "",
    dmode: pick(p.get("dmode"), DIFF_MODES, "time"),
    afrom: p.get("afrom") || "",
    ato: p.get("ato") || "",
    alabels: formatLabels(parseLabels(p.get("alabels"))),
    aversion: p.get("aversion") || "",
    bversion: p.get("bversion") || "",
    deploy: p.get("deploy") || "",
  };
}

// Read-only outside this module (an imported binding cannot be assigned);
// `reloadState` replaces it when the browser goes back or forward.
export let state = readState();
export function reloadState() { state = readState(); }

function stateQuery() {
  const s = state;
  const p = new URLSearchParams();
  if (s.service) p.set("service", s.service);
  if (s.type !== "cpu") p.set("type", s.type);
  if (s.from !== "-1h") p.set("from", s.from);
  if (s.to !== "now") p.set("to", s.to);
  if (s.labels) p.set("labels", s.labels);
  if (s.view !== "flame") p.set("view", s.view);
  if (s.layout !== "flame") p.set("layout", s.layout);
  if (s.zoom.length) p.set("zoom", encodePath(s.zoom));
  if (s.search) p.set("search", s.search);
  if (s.fn) p.set("fn", s.fn);
  if (s.view === "diff") {
    p.set("dmode", s.dmode);
    if (s.dmode === "time") { if (s.afrom) p.set("afrom", s.afrom); if (s.ato) p.set("ato", s.ato); }
    if (s.dmode === "labels" && s.alabels) p.set("alabels", s.alabels);
    if (s.dmode === "version") { if (s.aversion) p.set("aversion", s.aversion); if (s.bversion) p.set("bversion", s.bversion); }
  }
  if (s.view === "deploys" && s.deploy) p.set("deploy", s.deploy);
  return "?" + p.toString();
}

// push: a new history entry (selection changes); otherwise replace (zoom, search).
export function writeState(push) {
  const url = stateQuery();
  if (url !== location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}
