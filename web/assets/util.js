// Small helpers every module uses: DOM building, number and time formats,
// label and zoom-path encodings. The page's error log lives here too, so its
// listeners are installed before any other module runs (`main.js` imports
// this module first).

export const $ = (id) => document.getElementById(id);
export const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
export const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
export const errors = [];
window.addEventListener("error", (e) => errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason)));

export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }

export function fmtPct(fraction) {
  if (!Number.isFinite(fraction)) return "\u2013";
  const p = fraction * 100;
  const abs = Math.abs(p);
  return (abs >= 10 || abs === 0 ? p.toFixed(1) : abs >= 1 ? p.toFixed(2) : p.toFixed(3)) + "%";
}

export function fmtSignedPp(fraction) {
  const p = fraction * 100;
  return (p > 0 ? "+" : p < 0 ? "\u2212" : "\u00b1") + Math.abs(p).toFixed(Math.abs(p) >= 10 ? 1 : 2) + " pp";
}

export function fmtShort(n) {
  const abs = Math.abs(n);
  if (abs >= 1e12) return (n / 1e12).toFixed(2) + "T";
  if (abs >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (abs >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (abs >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return fmtInt(n);
}

export function fmtNs(ns) {
  const abs = Math.abs(ns);
  if (abs >= 3600e9) return (ns / 3600e9).toFixed(2) + " h";
  if (abs >= 60e9) return (ns / 60e9).toFixed(2) + " min";
  if (abs >= 1e9) return (ns / 1e9).toFixed(abs >= 100e9 ? 0 : 2) + " s";
  if (abs >= 1e6) return (ns / 1e6).toFixed(1) + " ms";
  if (abs >= 1e3) return (ns / 1e3).toFixed(1) + " \u00b5s";
  return Math.round(ns) + " ns";
}

export function fmtBytes(bytes) {
  const abs = Math.abs(bytes);
  const units = [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  for (const [size, name] of units) {
    if (abs >= size) return (bytes / size).toFixed(abs >= 100 * size ? 0 : 1) + " " + name;
  }
  return Math.round(bytes) + " B";
}

// What `samples` samples weigh in the profile's unit (time, bytes or events).
export function fmtWeight(samples, json) {
  if (!json || !json.period) return fmtInt(samples) + " samples";
  const unit = json.profile_type.unit;
  if (unit === "nanoseconds") return fmtNs(samples * json.period);
  if (unit === "bytes") return fmtBytes(samples * json.period);
  return fmtShort(samples * json.period) + " " + (unit || "events");
}

export function isoMs(ms) { return new Date(ms).toISOString().replace(".000Z", "Z"); }
export function shortTime(rfc3339) { return String(rfc3339).replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1").replace(/:00$/, ""); }
export function parseTimeMs(text) { const ms = Date.parse(text); return Number.isFinite(ms) ? ms : null; }
export function safeFileName(name) { return (name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "") || "profile"); }

export function hash32(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

// `a=b,c=d` <-> {a: "b", c: "d"}; names sorted so equal selections give equal URLs.
export function parseLabels(text) {
  // Matchers are split on commas not escaped with `\` (as the API does).
  const out = {};
  const parts = [];
  let current = "";
  const s = String(text || "");
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && i + 1 < s.length) { current += s[++i]; }
    else if (s[i] === ",") { parts.push(current); current = ""; }
    else current += s[i];
  }
  parts.push(current);
  for (const part of parts) {
    const at = part.indexOf("=");
    if (at > 0) out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}
export function formatLabels(labels) {
  const escape = (v) => String(v).replace(/\\/g, "\\\\").replace(/,/g, "\\,");
  return Object.keys(labels).filter((k) => labels[k]).sort().map((k) => k + "=" + escape(labels[k])).join(",");
}
export function withLabel(text, name, value) {
  const labels = parseLabels(text);
  if (value) labels[name] = value; else delete labels[name];
  return formatLabels(labels);
}

// Zoom paths in the URL: names joined by `;`, with `\` and `;` escaped.
export function encodePath(names) { return names.map((n) => n.replace(/\\/g, "\\\\").replace(/;/g, "\\;")).join(";"); }
export function decodePath(text) {
  if (!text) return [];
  const out = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length) { current += text[++i]; }
    else if (c === ";") { out.push(current); current = ""; }
    else current += c;
  }
  out.push(current);
  return out;
}
