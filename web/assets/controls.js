// The header and the chrome around the views: service, type, range presets,
// label chips, tabs, the summary line and the error box; and the services
// list they offer.

import { $, fmtInt, fmtWeight, formatLabels, h, parseLabels, shortTime, withLabel } from "./util.js";
import { PRESETS, state, VIEWS, writeState } from "./url_state.js";
import { getJson } from "./api.js";
import { commit, generation, getLabels } from "./app.js";

export let services = [];                 // from api/v1/services
export let lastError = "";

function renderPresets() {
  const group = $("presets");
  group.replaceChildren();
  for (const p of PRESETS) {
    group.append(h("button", {
      type: "button", text: p, "data-testid": "preset-" + p,
      "aria-pressed": String(state.from === "-" + p && state.to === "now"),
      onclick: () => { state.from = "-" + p; state.to = "now"; state.zoom = []; commit(true); },
    }));
  }
}

export function syncControls() {
  renderPresets();
  $("from").value = state.from;
  $("to").value = state.to;
  for (const tab of document.querySelectorAll("nav.tabs > button[data-view]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === state.view));
  }
  for (const view of VIEWS) $("view-" + view).hidden = view !== state.view;
  // One toolbar (zoom path, search, layout), placed right above the view's graph.
  const toolbar = $("toolbar");
  const anchor = { flame: "flame", diff: "diff", sandwich: "sandwich-body", deploys: "deploy-flame" }[state.view];
  toolbar.hidden = !anchor;
  if (anchor && toolbar.nextElementSibling !== $(anchor)) $(anchor).before(toolbar);
  $("crumbs").style.visibility = state.view === "sandwich" ? "hidden" : "";
  $("layout-group").hidden = state.view === "sandwich";
  $("layout-flame").setAttribute("aria-pressed", String(state.layout === "flame"));
  $("layout-icicle").setAttribute("aria-pressed", String(state.layout === "icicle"));
  $("downloads").hidden = state.view === "fleet" || state.view === "deploys";
  if (document.activeElement !== $("search")) $("search").value = state.search;
  for (const b of document.querySelectorAll("[data-dmode]")) b.setAttribute("aria-pressed", String(b.dataset.dmode === state.dmode));
  $("diff-time-row").hidden = state.dmode !== "time";
  $("diff-labels-row").hidden = state.dmode !== "labels";
  $("diff-version-row").hidden = state.dmode !== "version";
  $("diff-explain").textContent = {
    time: "the same service and labels over two time ranges",
    labels: "two label sets over the same range",
    version: "two values of the version label over the same range",
  }[state.dmode];
  renderServiceSelect();
  renderTypeSelect();
}

function renderServiceSelect() {
  const select = $("service");
  const names = services.map((s) => s.name);
  if (state.service && !names.includes(state.service)) names.unshift(state.service);
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
  }
  select.value = state.service;
}

function renderTypeSelect() {
  const select = $("type");
  const info = services.find((s) => s.name === state.service);
  const types = info && info.profile_types.length ? info.profile_types.slice() : ["cpu"];
  if (!types.includes(state.type)) types.push(state.type);
  select.replaceChildren(...types.map((t) => h("option", { value: t, text: t })));
  select.value = state.type;
}

export async function renderLabelBar(gen) {
  const bar = $("labels");
  let labels;
  try { labels = await getLabels(state.service); } catch (e) { labels = {}; }
  if (gen !== generation) return;
  const chosen = parseLabels(state.labels);
  const items = [h("span", { class: "hint", text: "Labels" })];
  const names = Object.keys(labels).sort();
  for (const name of names) {
    const values = labels[name];
    const select = h("select", { "data-testid": "label-" + name, "aria-label": "Label " + name, class: chosen[name] ? "set" : "" },
      h("option", { value: "", text: "any" }),
      ...values.map((v) => h("option", { value: v, text: v })));
    if (chosen[name] && !values.includes(chosen[name])) select.append(h("option", { value: chosen[name], text: chosen[name] }));
    select.value = chosen[name] || "";
    select.addEventListener("change", () => { state.labels = withLabel(state.labels, name, select.value); commit(true); });
    items.push(h("label", { class: "chip" }, h("span", { text: name }), select));
  }
  for (const name of Object.keys(chosen)) {
    if (!names.includes(name)) {
      items.push(h("label", { class: "chip" }, h("span", { text: name + "=" + chosen[name] }),
        h("button", { class: "btn", type: "button", text: "\u00d7", onclick: () => { state.labels = withLabel(state.labels, name, ""); commit(true); } })));
    }
  }
  if (!names.length) items.push(h("span", { class: "hint", text: "(none)" }));
  if (state.labels) items.push(h("button", { class: "btn", type: "button", text: "Clear", "data-testid": "labels-clear", onclick: () => { state.labels = ""; commit(true); } }));
  bar.replaceChildren(...items);
}

export function setSummary(nodes) { $("summary").replaceChildren(...nodes); }
export function showError(message) {
  lastError = message || "";
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

export function describeProfile(p) {
  const json = p.json;
  const nodes = [h("strong", { text: fmtInt(json.total_samples) }), " samples"];
  if (json.total_samples > 0 && json.period) nodes.push(" (" + fmtWeight(json.total_samples, json) + " of " + json.profile_type.name + ")");
  nodes.push(" \u00b7 " + shortTime(json.from) + " \u2192 " + shortTime(json.to) + " UTC");
  const labels = formatLabels(json.labels || {});
  if (labels) nodes.push(" \u00b7 " + labels);
  nodes.push(" \u00b7 " + fmtInt(p.tree.size - 1) + " nodes, " + fmtInt(p.fns.names.length) + " functions \u00b7 ");
  const pin = h("a", { href: "#", text: "pin this exact range", "data-testid": "pin-range", title: "Replace relative times with the exact range, so the link always shows these samples" });
  pin.addEventListener("click", (e) => { e.preventDefault(); state.from = json.from; state.to = json.to; commit(true); });
  nodes.push(pin);
  return nodes;
}

export async function loadServices() {
  try {
    services = (await getJson("api/v1/services")).services || [];
  } catch (e) {
    showError("Cannot list services: " + e.message);
    services = [];
  }
  if (!state.service && services.length) {
    state.service = services[0].name;
    writeState(false);
  }
}
