// Frames Augur could not name: what each placeholder means, and how to get
// names for them.
// The names Augur gives frames it could not name (web/API.md, "Frame
// names"): `[unsymbolized] PATH` rows of the fleet report, `[object+0xoffset]`
// frames of a binary without debug info, and `[reason]` placeholders.
// `unnamed(name)` says which kind a name is (`symbols`, `jit` or `other`)
// and what it means; null for a real function name.

import { fmtPct, h } from "./util.js";

const PLACEHOLDERS = [
  [/^(anonymous|memfd) code\b/, "jit", "Code generated at run time (JIT) that no perf map names."],
  [/^unknown address$/, "symbols", "An address the binary's symbols do not cover."],
  [/^file without an id$/, "symbols", "A file without a build-id, sent by an older agent (newer ones give it a content id)."],
  [/^vdso$/, "other", "vDSO code with no symbol around the address."],
  [/^unmapped$/, "other", "An address outside every mapping the process had when the agent read them."],
  [/^unreadable file /, "other", "A mapped file the agent could not read (permissions, or deleted)."],
  [/^(vsyscall|uprobes|special mapping)$/, "other", "A special kernel mapping, with no file behind it."],
  [/^truncated$/, "other", "The unwinder stopped here, short of the stack's root."],
  [/^process exited$/, "other", "The process exited before the agent read its memory map."],
  [/^(kernel|user) stack lost$/, "other", "The stack was gone from the kernel's stack map when the agent read it."],
  [/^not normalized$/, "other", "The agent could not place this address in a file."],
  [/^no stack$/, "other", "The sample had neither a kernel nor a user stack."],
  [/^kernel address not resolved$/, "other", "A kernel address that /proc/kallsyms did not name."],
];
export function unnamed(name) {
  const fleet = /^\[unsymbolized\](?: (.+))?$/.exec(name);
  if (fleet) {
    const file = fleet[1] || "";
    const contentId = /^f11e1d00[0-9a-f]{32}$/.test(file);
    return {
      kind: "symbols",
      what: contentId ? "Not symbolized: a binary without a build-id, whose file the server has neither read nor been sent." : "Not symbolized: no debug info for " + (file || "this binary") + " yet.",
      // How the flame graph names the same frames: `[gzip+0x1234]`.
      search: file ? "[" + file.split("/").pop() + "+" : "",
    };
  }
  if (/^\[[^\[\]\s]+\+0x[0-9a-f]+\]$/.test(name)) return { kind: "symbols", what: "Not symbolized: no debug info for this binary yet." };
  const reason = /^\[(.+)\]$/.exec(name);
  const known = reason && PLACEHOLDERS.find(([re]) => re.test(reason[1]));
  return known ? { kind: known[1], what: known[2] } : null;
}

// Fills `box` (a <details>) with how to name the kinds of unnamed frames in
// `rows` ({ name, share }), or hides it when every name is real.
export function renderUnnamedHelp(box, rows, scope) {
  const kinds = new Set();
  let share = 0;
  for (const r of rows) {
    const u = unnamed(r.name);
    if (u) { kinds.add(u.kind); share += r.share; }
  }
  box.hidden = kinds.size === 0;
  if (box.hidden) return;
  const code = (text) => h("code", { text });
  const items = [];
  if (kinds.has("symbols")) {
    items.push(h("li", { "data-testid": "unnamed-symbols" }, h("strong", { text: "Binaries without debug info" }), " (", code("[unsymbolized] /usr/bin/gzip"), ", ", code("[gzip+0x1234]"), "). ",
      "Install the distribution's debug package where the server runs (", code("gzip-dbgsym"), " on Debian and Ubuntu, or the older ", code("-dbg"),
      "; /usr/lib/debug is searched, other directories with ", code("--debug-dir"), "), start the server with ", code("--debuginfod URL"),
      " (", code("augur up"), " or ", code("augur server"), "), or let agents upload debug info from hosts where the binary has symbols (",
      code("[debuginfo] upload = true"), " in the agent's config). Stored samples are named once it arrives. A binary without a build-id (its id starts with ",
      code("f11e1d00"), ") matches no debug package or debuginfod: it is named from an agent's upload or the binary itself (Go binaries even when stripped), or link it with ", code("-Wl,--build-id"), "."));
  }
  if (kinds.has("jit")) {
    items.push(h("li", { "data-testid": "unnamed-jit" }, h("strong", { text: "JIT code" }), " (", code("[anonymous code in node]"), "). ",
      "The agent names it from the runtime's perf map, ", code("/tmp/perf-PID.map"), ": start Node with ", code("--perf-basic-prof"),
      ", Java with perf-map-agent (or run ", code("jcmd PID Compiler.perfmap"), " on JDK 17+), Python 3.12+ with ", code("-X perf"),
      ". Samples taken after that have names."));
  }
  if (kinds.has("other")) {
    items.push(h("li", { "data-testid": "unnamed-other" }, h("strong", { text: "Other placeholders" }), " (", code("[process exited]"), ", ", code("[unmapped]"),
      ", \u2026): frames Augur could not place at all. Hover a name for what it means; web/API.md lists them all."));
  }
  box.replaceChildren(h("summary", { text: fmtPct(share) + " of " + scope + " is in frames without names: how to name them" }), h("ul", null, ...items));
}
