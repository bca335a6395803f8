// What the page holds between refreshes: the profile caches, the profile on
// screen, the refresh generation, and `commit`, which applies a changed state.

import { state, writeState } from "./url_state.js";
import { apiUrl, decodeTree, fetchBuffer, getJson, selKey } from "./api.js";
import { treeFromArrays } from "./tree.js";

export const labelCache = new Map();      // service -> Promise<{name: [values]}>
export const profileCache = new Map();    // selKey -> Promise<profile>
export const timelineCache = new Map();   // url -> Promise<json>
export let current = null;         // the main profile on screen
export function setCurrent(p) { current = p; }
// Bumped by every refresh: async work that sees a newer one stops.
export let generation = 0;
export function nextGeneration() { return ++generation; }

export function getProfile(sel) {
  const key = selKey(sel);
  let entry = profileCache.get(key);
  if (!entry) {
    entry = fetchProfile(sel);
    profileCache.set(key, entry);
    entry.catch(() => profileCache.delete(key));
    while (profileCache.size > 8) profileCache.delete(profileCache.keys().next().value);
  }
  return entry;
}

// A profile as the page keeps it: `json` is the answer's header (the JSON
// format's fields but stacks and top functions), `fns` the functions in
// top-functions order, `tree` the call tree.
async function fetchProfile(sel) {
  const timings = { start: performance.now() };
  const buffer = await fetchBuffer(apiUrl("api/v1/profile", sel, { format: "tree" }));
  timings.fetchMs = performance.now() - timings.start;
  timings.bytes = buffer.byteLength;
  let t = performance.now();
  const decoded = decodeTree(buffer);
  timings.parseMs = performance.now() - t;
  t = performance.now();
  const tree = treeFromArrays(decoded);
  timings.buildMs = performance.now() - t;
  return { sel, json: decoded.meta, fns: decoded.fns, tree, timings, drawn: false };
}

export function getLabels(service) {
  let entry = labelCache.get(service);
  if (!entry) {
    entry = getJson("api/v1/labels?" + new URLSearchParams({ service })).then((j) => j.labels || {});
    labelCache.set(service, entry);
    entry.catch(() => labelCache.delete(service));
  }
  return entry;
}

// `main.js` registers the refresh, which needs every view; the views need
// `commit`. Registering it keeps the imports one-way.
let refresher = () => Promise.resolve();
export function onCommit(refresh) { refresher = refresh; }

// Applies the state: URL, controls, then whatever the view needs (cached
// profiles are reused, so switching views or zooming refetches nothing).
export function commit(push) {
  writeState(push);
  return refresher();
}

export function openSandwich(name) {
  state.fn = name;
  state.view = "sandwich";
  commit(true);
}
