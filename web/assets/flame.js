// The flame graph on <canvas>: each draw walks only what is on screen and
// merges frames narrower than a pixel into a visible "other" box per parent.
// The tooltip it shows on hover is here too.

import { $, fmtInt, fmtPct, fmtSignedPp, h } from "./util.js";
import { frameInfo } from "./api.js";
import { colorOfName, DIFF_DIM, MATCH, NO_COLOR, OTHER, PAL, PAL_SIZE, PALE_OF, ROOT, stripes } from "./palette.js";
import { matchedSum, nodeAt, nodeName, pathOf } from "./tree.js";
import { unnamed } from "./unnamed.js";

const ROW = 18;
const MIN_PX = 1;        // narrower frames are merged into their parent's "other" box
const LABEL_MIN_PX = 24; // narrower boxes get no text
const FONT = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
export const zoomFrames = { work: [], interval: [] };

export class FlameGraph {
  // options: { testid, icicle: () => bool, onZoom(path), onSandwich(name), describe(tree, n) }
  constructor(host, options) {
    this.host = host;
    this.options = options;
    host.classList.add("fg");
    this.scroller = h("div", { class: "fg-scroll" });
    this.view = h("div", { class: "fg-view" });
    this.canvas = h("canvas", { "data-testid": options.testid + "-canvas" });
    this.overlay = h("canvas", { class: "fg-overlay", "data-testid": options.testid + "-overlay" });
    this.spacer = h("div");
    this.empty = h("div", { class: "fg-empty", hidden: true });
    this.view.append(this.canvas, this.overlay);
    this.scroller.append(this.view, this.spacer);
    host.append(this.scroller, this.empty);
    this.ctx = this.canvas.getContext("2d", { alpha: false });
    this.octx = this.overlay.getContext("2d");
    this.pattern = this.ctx.createPattern(stripes(), "repeat");
    this.tree = null;
    this.zoomNode = 0;
    this.viewport = [0, 1];
    this.match = null;
    this.W = 0; this.H = 0; this.contentH = 0; this.dpr = 1; this.flip = false; this.scrollTop = 0;
    this.cap = 0; this.count = 0;
    this.grow(8192);
    this.stack = new Int32Array(8192);
    this.bucketCount = new Int32Array(PAL_SIZE);
    this.hover = -1;
    this.mouse = null;
    this.anim = 0;
    this.stats = { nodesDrawn: 0, otherNodes: 0, mergedFrames: 0, lastRenderMs: 0, draws: 0 };
    this.ctx.font = FONT;
    this.charW = this.ctx.measureText("0000000000").width / 10 || 6.6;

    this.overlay.addEventListener("mousemove", (e) => this.onMove(e));
    this.overlay.addEventListener("mouseleave", () => { this.mouse = null; this.setHover(-1); hideTooltip(); });
    this.overlay.addEventListener("click", (e) => this.onClick(e));
    this.scroller.addEventListener("scroll", () => this.requestDraw());
    new ResizeObserver(() => this.resize()).observe(host);
  }

  grow(cap) {
    const old = this.cap ? { n: this.rn, x: this.rx, w: this.rw, d: this.rd, c: this.rc, m: this.rm } : null;
    this.rn = new Int32Array(cap); this.rx = new Float32Array(cap); this.rw = new Float32Array(cap);
    this.rd = new Int32Array(cap); this.rc = new Uint8Array(cap); this.rm = new Int32Array(cap);
    this.order = new Int32Array(cap);
    if (old) {
      this.rn.set(old.n); this.rx.set(old.x); this.rw.set(old.w); this.rd.set(old.d); this.rc.set(old.c); this.rm.set(old.m);
    }
    this.cap = cap;
  }

  setTree(tree, zoomPath, search) {
    this.tree = tree;
    this.hover = -1;
    if (this.anim) { cancelAnimationFrame(this.anim); this.anim = 0; }
    const empty = !tree || tree.weight[0] <= 0;
    this.scroller.hidden = empty;
    this.empty.hidden = !empty;
    this.empty.textContent = "No samples in this selection.";
    if (!tree) return;
    if (this.stack.length < tree.size + 16) this.stack = new Int32Array(tree.size + 16);
    if (!tree.color) tree.color = new Uint8Array(tree.size).fill(NO_COLOR);
    this.setSearchQuiet(search || "");
    this.zoomNode = nodeAt(tree, zoomPath || []);
    this.viewport = this.targetOf(this.zoomNode);
    this.layoutHeight(true);
    this.draw();
  }

  targetOf(n) {
    const t = this.tree;
    return t.w[n] > 0 ? [t.x[n], t.x[n] + t.w[n]] : [0, 1];
  }

  zoomPath() { return this.tree ? pathOf(this.tree, this.zoomNode) : []; }

  setSearchQuiet(text) {
    this.searchText = text;
    this.match = null;
    if (!text || !this.tree) return;
    // Plain text matches case-insensitively; /text/flags is a regular expression.
    const re = /^\/(.+)\/([a-z]*)$/.exec(text);
    let regex;
    try {
      regex = re ? new RegExp(re[1], re[2].replace(/[gy]/g, "")) : new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
    } catch (_) {
      regex = /(?!)/;
    }
    const { name, names, nameIndex } = this.tree;
    const match = new Uint8Array(name.length);
    if (nameIndex) {
      // Each function once, then its nodes.
      const byName = new Uint8Array(names.length);
      for (let f = 0; f < names.length; f++) byName[f] = regex.test(names[f]) ? 1 : 0;
      for (let i = 1; i < name.length; i++) match[i] = byName[nameIndex[i]];
    } else {
      for (let i = 1; i < name.length; i++) match[i] = regex.test(name[i]) ? 1 : 0;
    }
    this.match = match;
  }

  setSearch(text) { this.setSearchQuiet(text); this.draw(); }

  // Shares of samples with a matching frame: of the profile (or, in a diff,
  // of each side) and of the zoomed node.
  matched() {
    const t = this.tree;
    if (!t || !this.match) return null;
    const whole = matchedSum(t, this.match, t.weight, 0) / (t.weight[0] || 1);
    const view = matchedSum(t, this.match, t.weight, this.zoomNode) / (t.weight[this.zoomNode] || 1);
    const out = { share: whole, ofView: view };
    if (t.diff) {
      out.shareA = matchedSum(t, this.match, t.sideA, 0) / (t.sideA[0] || 1);
      out.shareB = matchedSum(t, this.match, t.sideB, 0) / (t.sideB[0] || 1);
      out.share = out.shareB;
    }
    return out;
  }

  icicle() { return this.options.icicle(); }

  layoutHeight(resetScroll) {
    if (!this.tree) return;
    const width = Math.max(120, Math.floor(this.host.clientWidth));
    const contentH = (this.tree.maxDepth + 1) * ROW + 2;
    const maxH = Math.max(260, Math.round(window.innerHeight * (this.options.maxHeight || 0.7)));
    const viewH = Math.min(contentH, maxH);
    const dpr = window.devicePixelRatio || 1;
    if (width !== this.W || viewH !== this.H || dpr !== this.dpr) {
      for (const c of [this.canvas, this.overlay]) {
        c.width = Math.round(width * dpr);
        c.height = Math.round(viewH * dpr);
        c.style.width = width + "px";
        c.style.height = viewH + "px";
      }
      this.W = width; this.H = viewH; this.dpr = dpr;
      this.ctx.font = FONT;
    }
    this.view.style.height = viewH + "px";
    this.scroller.style.height = viewH + 2 + "px"; // + its border
    this.spacer.style.height = Math.max(0, contentH - viewH) + "px";
    this.contentH = contentH;
    if (resetScroll) this.scroller.scrollTop = this.icicle() ? 0 : contentH;
  }

  resize() {
    if (!this.tree || this.host.clientWidth === 0) return;
    const before = this.W;
    this.layoutHeight(false);
    if (before !== this.W || this.stats.draws === 0) this.draw();
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.draw(); });
  }

  // Top of row `d` on the canvas, as of the last draw (scroll and layout
  // are read once per draw, never per box).
  rowY(d) {
    return this.flip ? d * ROW - this.scrollTop : this.contentH - (d + 1) * ROW - this.scrollTop;
  }

  // Draws the boxes inside the viewport and the scrolled rows; returns ms.
  draw() {
    const t0 = performance.now();
    const tree = this.tree;
    const W = this.W, H = this.H;
    if (!tree || !W || tree.weight[0] <= 0) return 0;
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);

    const [v0, v1] = this.viewport;
    const scale = W / (v1 - v0);
    const icicle = this.icicle();
    const scrollTop = this.scroller.scrollTop;
    this.flip = icicle;
    this.scrollTop = scrollTop;
    let dMin, dMax;
    if (icicle) {
      dMin = Math.floor(scrollTop / ROW);
      dMax = Math.ceil((scrollTop + H) / ROW);
    } else {
      dMin = Math.floor((this.contentH - scrollTop - H) / ROW) - 1;
      dMax = Math.ceil((this.contentH - scrollTop) / ROW);
    }
    const { x: X, w: WD, kids, kidStart, kidCount, depth, name, selfWeight, weight } = tree;
    const grand = weight[0];
    const match = this.match, nodeColor = tree.color, diffColor = tree.diffColor;
    const stack = this.stack;
    let sp = 0, count = 0, others = 0, merged = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const n = stack[--sp];
      const d = depth[n];
      if (d > dMax) continue;
      const x = (X[n] - v0) * scale;
      const w = WD[n] * scale;
      if (x >= W || x + Math.max(w, MIN_PX) <= 0) continue;
      if (d >= dMin) {
        if (count === this.cap) this.grow(this.cap * 2);
        let color;
        if (n === 0) color = ROOT;
        else if (diffColor) color = match && !match[n] ? DIFF_DIM : diffColor[n];
        else {
          color = nodeColor[n];
          if (color === NO_COLOR) color = nodeColor[n] = colorOfName(name[n]);
          if (match) color = match[n] ? MATCH : PALE_OF[color];
        }
        this.rn[count] = n; this.rx[count] = x; this.rw[count] = Math.max(w, MIN_PX); this.rd[count] = d; this.rc[count] = color; this.rm[count] = 0;
        count++;
      }
      const start = kidStart[n], end = start + kidCount[n];
      if (end === start || d + 1 > dMax) continue;
      let k = start;
      for (; k < end; k++) {
        const c = kids[k];
        if (WD[c] * scale < MIN_PX) break;
        stack[sp++] = c;
      }
      if (k === end) continue;
      if (end - k === 1) { stack[sp++] = kids[k]; continue; }
      // The rest are all narrower than MIN_PX: one visible box stands for them.
      const ox = (X[kids[k]] - v0) * scale;
      const ow = (X[n] + (weight[n] - selfWeight[n]) / grand - X[kids[k]]) * scale;
      if (d + 1 >= dMin && ox < W && ox + Math.max(ow, MIN_PX) > 0) {
        if (count === this.cap) this.grow(this.cap * 2);
        this.rn[count] = -1 - n; this.rx[count] = ox; this.rw[count] = Math.max(ow, MIN_PX); this.rd[count] = d + 1; this.rc[count] = OTHER; this.rm[count] = end - k;
        count++;
        others++;
        merged += end - k;
      }
    }

    // Fill by color (counting sort), one path per color.
    const buckets = this.bucketCount;
    buckets.fill(0);
    for (let i = 0; i < count; i++) buckets[this.rc[i]]++;
    let acc = 0;
    for (let c = 0; c < PAL_SIZE; c++) { const v = buckets[c]; buckets[c] = acc; acc += v; }
    const order = this.order;
    for (let i = 0; i < count; i++) order[buckets[this.rc[i]]++] = i;
    let i = 0;
    while (i < count) {
      const color = this.rc[order[i]];
      ctx.fillStyle = color === OTHER ? this.pattern : PAL[color];
      ctx.beginPath();
      for (; i < count && this.rc[order[i]] === color; i++) {
        const r = order[i];
        const w = this.rw[r];
        ctx.rect(this.rx[r], this.rowY(this.rd[r]) + 0.5, w > 2 ? w - 0.6 : w, ROW - 1);
      }
      ctx.fill();
    }

    // Labels on the boxes wide enough for a few characters.
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#1b1f27";
    const charW = this.charW;
    for (let r = 0; r < count; r++) {
      const w = this.rw[r];
      if (w < LABEL_MIN_PX) continue;
      const left = Math.max(this.rx[r], 0);
      const right = Math.min(this.rx[r] + w, W);
      const room = Math.floor((right - left - 6) / charW);
      if (room < 3) continue;
      const n = this.rn[r];
      let text = n >= 0 ? nodeName(tree, n) : "\u22ef " + this.rm[r] + " merged";
      if (text.length > room) text = text.slice(0, room - 1) + "\u2026";
      ctx.fillText(text, left + 3, this.rowY(this.rd[r]) + ROW / 2 + 0.5);
    }

    this.count = count;
    const ms = performance.now() - t0;
    Object.assign(this.stats, { nodesDrawn: count, otherNodes: others, mergedFrames: merged, lastRenderMs: ms });
    this.stats.draws++;
    if (this.mouse) this.setHover(this.recordAt(this.mouse.x, this.mouse.y), true);
    else this.setHover(-1, true);
    return ms;
  }

  recordAt(mx, my) {
    const scrollTop = this.scrollTop;
    const d = this.flip ? Math.floor((my + scrollTop) / ROW) : Math.floor((this.contentH - my - scrollTop) / ROW);
    for (let r = 0; r < this.count; r++) {
      if (this.rd[r] === d && mx >= this.rx[r] && mx < this.rx[r] + this.rw[r]) return r;
    }
    return -1;
  }

  setHover(r, force) {
    if (r === this.hover && !force) return;
    this.hover = r;
    const o = this.octx;
    o.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    o.clearRect(0, 0, this.W, this.H);
    if (r < 0) return;
    o.strokeStyle = "#1d2330";
    o.lineWidth = 1.5;
    o.strokeRect(Math.max(this.rx[r], 0) + 0.75, this.rowY(this.rd[r]) + 1.25, Math.min(this.rw[r], this.W) - 1.5, ROW - 2.5);
  }

  onMove(e) {
    const rect = this.overlay.getBoundingClientRect();
    this.mouse = { x: e.clientX - rect.left, y: e.clientY - rect.top };
    const r = this.recordAt(this.mouse.x, this.mouse.y);
    this.setHover(r);
    if (r < 0) { hideTooltip(); return; }
    showTooltip(e.clientX, e.clientY, this.describe(r));
  }

  describe(r) {
    const tree = this.tree;
    const n = this.rn[r];
    const rows = [];
    const fmt = this.options.format || ((v) => fmtInt(v));
    if (n < 0) {
      const parent = -1 - n;
      const end = tree.kidStart[parent] + tree.kidCount[parent];
      let sum = 0;
      for (let k = end - this.rm[r]; k < end; k++) sum += tree.weight[tree.kids[k]];
      rows.push(["Frames", fmtInt(this.rm[r]) + " callees of " + nodeName(tree, parent)]);
      rows.push(["Total", this.weightText(sum, fmt)]);
      return { name: "other (" + this.rm[r] + " frames narrower than " + MIN_PX + " px)", rows, foot: "Click to zoom into " + nodeName(tree, parent) + "; each is in the table." };
    }
    if (tree.diff && tree.absolute) {
      const a = tree.sideA[n], b = tree.sideB[n];
      rows.push(["First", fmt(a) + " (self " + fmt(tree.selfA[n]) + ")"]);
      rows.push(["Second", fmt(b) + " (self " + fmt(tree.selfB[n]) + ")"]);
      const rel = a > 0 ? (b - a) / a : (b > 0 ? Infinity : 0);
      rows.push(["Change", (b >= a ? "+" : "\u2212") + fmt(Math.abs(b - a)) + (Number.isFinite(rel) ? " (" + (rel >= 0 ? "+" : "") + (rel * 100).toFixed(1) + "%)" : " (new)")]);
    } else if (tree.diff) {
      const A = tree.sideA[0] || 1, B = tree.sideB[0] || 1;
      const a = tree.sideA[n] / A, b = tree.sideB[n] / B;
      rows.push(["First", fmtPct(a) + " (" + fmtInt(tree.sideA[n]) + " samples, self " + fmtPct(tree.selfA[n] / A) + ")"]);
      rows.push(["Second", fmtPct(b) + " (" + fmtInt(tree.sideB[n]) + " samples, self " + fmtPct(tree.selfB[n] / B) + ")"]);
      const rel = a > 0 ? (b - a) / a : (b > 0 ? Infinity : 0);
      rows.push(["Change", fmtSignedPp(b - a) + (Number.isFinite(rel) ? " (" + (rel >= 0 ? "+" : "") + (rel * 100).toFixed(1) + "%)" : " (new)")]);
    } else {
      rows.push(["Total", this.weightText(tree.weight[n], fmt)]);
      rows.push(["Self", this.weightText(tree.selfWeight[n], fmt)]);
      if (this.zoomNode !== 0 && n !== this.zoomNode) {
        rows.push(["Of view", fmtPct(tree.weight[n] / tree.weight[this.zoomNode])]);
      }
      if (n !== 0) rows.push(["Of parent", fmtPct(tree.weight[n] / tree.weight[tree.parent[n]])]);
    }
    const info = n !== 0 ? frameInfo.get(nodeName(tree, n)) : null;
    if (info) {
      rows.push(["Language", info.language]);
      if (info.source) rows.push(["Source", info.source]);
    }
    const u = unnamed(nodeName(tree, n));
    return { name: nodeName(tree, n), rows, note: u && u.what, foot: "Click to zoom \u00b7 shift-click: sandwich view" };
  }

  weightText(value, fmt) {
    return fmt(value) + " \u00b7 " + fmtPct(value / (this.tree.weight[0] || 1)) + " of all";
  }

  onClick(e) {
    const rect = this.overlay.getBoundingClientRect();
    const r = this.recordAt(e.clientX - rect.left, e.clientY - rect.top);
    if (r < 0) return;
    const n = this.rn[r];
    if (n >= 0 && (e.shiftKey || e.altKey) && n !== 0 && this.options.onSandwich) {
      this.options.onSandwich(nodeName(this.tree, n));
      return;
    }
    this.zoomTo(n >= 0 ? n : -1 - n, true);
  }

  zoomTo(n, animate) {
    if (!this.tree) return;
    this.zoomNode = n;
    const target = this.targetOf(n);
    if (this.options.onZoom) this.options.onZoom(pathOf(this.tree, n));
    if (this.anim) { cancelAnimationFrame(this.anim); this.anim = 0; }
    if (!animate) { this.viewport = target; this.draw(); return; }
    const from = this.viewport.slice();
    const started = performance.now();
    let last = started;
    const duration = 220;
    const step = (now) => {
      const t = Math.min(1, (now - started) / duration);
      const e = 1 - Math.pow(1 - t, 3);
      this.viewport = [from[0] + (target[0] - from[0]) * e, from[1] + (target[1] - from[1]) * e];
      const work = this.draw();
      zoomFrames.work.push(work);
      zoomFrames.interval.push(now - last);
      last = now;
      this.anim = t < 1 ? requestAnimationFrame(step) : 0;
      if (!this.anim && this.options.onZoomDone) this.options.onZoomDone();
    };
    this.anim = requestAnimationFrame(step);
  }

  // Client rectangle of a drawn box, for tests: by name, or the widest at a depth.
  boxRect(predicate) {
    const rect = this.overlay.getBoundingClientRect();
    let best = -1;
    for (let r = 0; r < this.count; r++) {
      const n = this.rn[r];
      if (!predicate(n, r)) continue;
      if (best < 0 || this.rw[r] > this.rw[best]) best = r;
    }
    if (best < 0) return null;
    const x0 = Math.max(this.rx[best], 0), x1 = Math.min(this.rx[best] + this.rw[best], this.W);
    const n = this.rn[best];
    return {
      name: n >= 0 ? nodeName(this.tree, n) : null, depth: this.rd[best], other: n < 0,
      x: rect.left + x0, y: rect.top + this.rowY(this.rd[best]), width: x1 - x0, height: ROW,
      centerX: rect.left + (x0 + x1) / 2, centerY: rect.top + this.rowY(this.rd[best]) + ROW / 2,
    };
  }
}

const tooltip = $("tooltip");
function showTooltip(cx, cy, info) {
  tooltip.replaceChildren(
    h("div", { class: "name", text: info.name }),
    h("table", null, ...info.rows.map(([k, v]) => h("tr", null, h("td", { text: k }), h("td", { text: v })))),
    info.note ? h("div", { class: "foot", text: info.note }) : null,
    info.foot ? h("div", { class: "foot", text: info.foot }) : null,
  );
  tooltip.hidden = false;
  const pad = 14;
  const w = tooltip.offsetWidth, hgt = tooltip.offsetHeight;
  let left = cx + pad, top = cy + pad;
  if (left + w > window.innerWidth - 4) left = Math.max(4, cx - w - pad);
  if (top + hgt > window.innerHeight - 4) top = Math.max(4, cy - hgt - pad);
  tooltip.style.left = left + "px";
  tooltip.style.top = top + "px";
}
export function hideTooltip() { tooltip.hidden = true; }
