// Getting the profile out: the download links (server-rendered pprof,
// folded and SVG), speedscope JSON built here from the call tree, and
// "Copy link". Importing this module wires the speedscope and share buttons.

import { $, h, safeFileName } from "./util.js";
import { apiUrl } from "./api.js";
import { forEachStack } from "./tree.js";
import { current } from "./app.js";

export function setDownloads(p) {
  const ids = { pprof: "download-pprof", folded: "download-folded", svg: "download-svg" };
  const ext = { pprof: "pb.gz", folded: "folded.txt", svg: "svg" };
  for (const [format, id] of Object.entries(ids)) {
    const link = $(id);
    if (!p) { link.removeAttribute("href"); link.setAttribute("aria-disabled", "true"); continue; }
    // Pinned to the exact range the JSON covered.
    link.href = apiUrl("api/v1/profile", Object.assign({}, p.sel, { from: p.json.from, to: p.json.to }), { format });
    link.download = safeFileName(p.sel.service) + "." + ext[format];
    link.setAttribute("aria-disabled", "false");
  }
  $("download-speedscope").setAttribute("aria-disabled", String(!p));
}

$("download-speedscope").addEventListener("click", (e) => {
  e.preventDefault();
  if (!current) return;
  const blob = new Blob([JSON.stringify(speedscope(current))], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: safeFileName(current.sel.service) + ".speedscope.json" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

// speedscope's file format, from the call tree: one sampled profile,
// root-first frame indices, weighted in nanoseconds when the unit is time.
function speedscope(p) {
  const json = p.json;
  const frames = p.fns.names.map((name) => ({ name }));
  const index = new Map(p.fns.names.map((name, i) => [name, i]));
  const samples = [], weights = [];
  const timed = json.profile_type.unit === "nanoseconds" && json.period > 0;
  forEachStack(p.tree, (path, count) => {
    samples.push(path.map((name) => index.get(name)));
    weights.push(timed ? count * json.period : count);
  });
  const name = json.service + " " + json.profile_type.name + " " + json.from + " to " + json.to;
  return {
    $schema: "https://www.speedscope.app/file-format-schema.json",
    exporter: "augur web UI", name, activeProfileIndex: 0, shared: { frames },
    profiles: [{ type: "sampled", name, unit: timed ? "nanoseconds" : "none", startValue: 0, endValue: weights.reduce((a, b) => a + b, 0), samples, weights }],
  };
}

$("share").addEventListener("click", async () => {
  const button = $("share");
  let copied = false;
  try { await navigator.clipboard.writeText(location.href); copied = true; } catch (_) {
    // No clipboard API outside secure contexts (plain http to a remote host).
    const area = h("textarea", { style: "position:fixed;opacity:0" });
    area.value = location.href;
    document.body.append(area);
    area.select();
    try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
    area.remove();
  }
  button.textContent = copied ? "Copied" : "Copy the address bar";
  setTimeout(() => { button.textContent = "Copy link"; }, 1500);
});
