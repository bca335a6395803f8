// The public API of web/API.md: JSON fetches, the binary call tree of
// `format=tree`, and the query parameters of a selection.

import { state } from "./url_state.js";

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function fetchText(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const text = await response.text();
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = JSON.parse(text).error || message; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  return text;
}
export async function getJson(url) { return JSON.parse(await fetchText(url)); }

export async function fetchBuffer(url) {
  const response = await fetch(url);
  if (!response.ok) {
    const text = await response.text();
    let message = response.status + " " + response.statusText;
    try { message = JSON.parse(text).error || message; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  return response.arrayBuffer();
}

// `format=tree` (web/API.md): "AUGT", version, a JSON header with the
// names, then little-endian arrays read in place as typed arrays.
const TREE_MAGIC = 0x54475541;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
export function decodeTree(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 12 || view.getUint32(0, true) !== TREE_MAGIC) throw new Error("the server's profile answer is not a call tree");
  if (view.getUint32(4, true) !== 1) throw new Error("unsupported call tree version " + view.getUint32(4, true));
  if (!LITTLE_ENDIAN) throw new Error("this page reads call trees on little-endian machines only");
  const headerLen = view.getUint32(8, true);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, headerLen)));
  const n = meta.nodes, m = meta.names.length;
  let offset = Math.ceil((12 + headerLen) / 8) * 8;
  if (offset + n * 24 + m * 16 !== buffer.byteLength) throw new Error("truncated call tree answer");
  const take = (Type, length) => { const a = new Type(buffer, offset, length); offset += a.byteLength; return a; };
  const self = take(Float64Array, n), total = take(Float64Array, n);
  const fnSelf = take(Float64Array, m), fnTotal = take(Float64Array, m);
  const parent = take(Int32Array, n), nameIndex = take(Uint32Array, n);
  learnFrames(meta);
  return { meta, fns: { names: meta.names, self: fnSelf, total: fnTotal }, nodes: { parent, nameIndex, self, total } };
}

// What the tree answers said of each function name: its code's language
// (`native`, `kernel`, `jit`, `python`, `java`, `unknown`) and, for runtime
// frames, its source as `file:line`. Kept by name, the newest answer
// winning, so the sandwich and diff trees built here color alike.
export const frameInfo = new Map();
function learnFrames(meta) {
  const languages = meta.languages || [], byName = meta.name_languages || [];
  const sources = new Map();
  for (const s of meta.sources || []) sources.set(s.name, s.file && s.line ? s.file + ":" + s.line : s.file || "line " + s.line);
  for (let i = 0; i < meta.names.length; i++) {
    const language = languages[byName[i]];
    if (language) frameInfo.set(meta.names[i], { language, source: sources.get(i) || "" });
  }
}

export function selection(overrides) {
  return Object.assign({ service: state.service, type: state.type, from: state.from, to: state.to, labels: state.labels }, overrides || {});
}
export function selKey(sel) { return [sel.service, sel.type, sel.from, sel.to, sel.labels].join("\u0001"); }
export function apiUrl(path, sel, extra) {
  const p = new URLSearchParams({ service: sel.service, from: sel.from, to: sel.to });
  if (sel.type && sel.type !== "cpu") p.set("type", sel.type);
  if (sel.labels) p.set("labels", sel.labels);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return path + "?" + p.toString();
}
