// The samples-over-time chart: bars per step, drag to select a range
// (shift-drag for a diff's first range).

import { fmtInt, fmtShort, isoMs } from "./util.js";

export class Timeline {
  constructor(canvas, onSelect) {
    this.canvas = canvas;
    this.onSelect = onSelect;
    this.data = null;
    this.drag = null;
    canvas.addEventListener("mousedown", (e) => {
      if (!this.data) return;
      const x = this.localX(e);
      this.drag = { x0: x, x1: x, shift: e.shiftKey };
      e.preventDefault();
    });
    window.addEventListener("mousemove", (e) => {
      if (this.drag) { this.drag.x1 = this.localX(e); this.draw(); return; }
      if (e.target === canvas) this.hoverAt(e);
    });
    window.addEventListener("mouseup", (e) => {
      const drag = this.drag;
      if (!drag) return;
      this.drag = null;
      this.draw();
      const a = Math.min(drag.x0, drag.x1), b = Math.max(drag.x0, drag.x1);
      if (b - a < 3) return;
      const minute = 60000;
      let from = Math.floor(this.timeAt(a) / minute) * minute;
      let to = Math.ceil(this.timeAt(b) / minute) * minute;
      if (to <= from) to = from + minute;
      this.onSelect(from, to, drag.shift || e.shiftKey);
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  localX(e) {
    const rect = this.canvas.getBoundingClientRect();
    return Math.min(Math.max(e.clientX - rect.left, 0), rect.width);
  }
  timeAt(x) {
    const d = this.data;
    return d.from + (x / this.canvas.clientWidth) * (d.to - d.from);
  }
  xAt(t) {
    const d = this.data;
    return ((t - d.from) / (d.to - d.from)) * this.canvas.clientWidth;
  }

  // data: { from, to (ms), stepMs, points: [{t, v}], marks: [{from, to, color}],
  // format: value -> text (optional) }
  set(data) { this.data = data; this.draw(); }

  hoverAt(e) {
    if (!this.data) return;
    const t = this.timeAt(this.localX(e));
    const step = this.data.stepMs;
    const p = this.data.points.find((q) => t >= q.t && t < q.t + step);
    const format = this.data.format || ((v) => fmtInt(v) + " samples");
    this.canvas.title = isoMs(Math.floor(t / 60000) * 60000) + (p ? ": " + format(p.v) : ": no data");
  }

  draw() {
    const c = this.canvas, d = this.data;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    if (!d) return;
    const axis = 17, top = 4, plotH = H - axis - top;
    ctx.fillStyle = "#f6f7f9";
    ctx.fillRect(0, top, W, plotH);
    for (const m of d.marks) {
      ctx.fillStyle = m.color;
      const a = this.xAt(m.from), b = this.xAt(m.to);
      ctx.fillRect(a, top, Math.max(1, b - a), plotH);
    }
    let max = 0;
    for (const p of d.points) if (p.v > max) max = p.v;
    ctx.fillStyle = "#c4461b";
    const bw = Math.max(1, (d.stepMs / (d.to - d.from)) * W - (d.stepMs / (d.to - d.from) * W > 4 ? 1 : 0));
    for (const p of d.points) {
      const x = this.xAt(p.t);
      if (x + bw < 0 || x > W) continue;
      const bh = max > 0 ? Math.max(1, (p.v / max) * (plotH - 2)) : 0;
      ctx.fillRect(x, top + plotH - bh, bw, bh);
    }
    // Axis: round UTC ticks.
    ctx.fillStyle = "#677083";
    ctx.font = "10.5px system-ui, sans-serif";
    ctx.textBaseline = "top";
    const span = d.to - d.from;
    const steps = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 7 * 86400e3];
    const tick = steps.find((s) => span / s <= Math.max(2, W / 110)) || steps[steps.length - 1];
    for (let t = Math.ceil(d.from / tick) * tick; t <= d.to; t += tick) {
      const x = this.xAt(t);
      ctx.fillRect(x, top + plotH, 1, 2);
      const iso = new Date(t).toISOString();
      const label = span > 2 * 86400e3 ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
      const tw = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(x - tw / 2, 0), W - tw), top + plotH + 4);
    }
    if (max > 0) {
      ctx.textBaseline = "top";
      ctx.fillText(fmtShort(max) + " samples/min", 4, top + 2);
    }
    if (this.drag) {
      const a = Math.min(this.drag.x0, this.drag.x1), b = Math.max(this.drag.x0, this.drag.x1);
      ctx.fillStyle = this.drag.shift ? "rgba(47,111,214,0.25)" : "rgba(196,70,27,0.22)";
      ctx.fillRect(a, top, b - a, plotH);
      ctx.strokeStyle = this.drag.shift ? "#2f6fd6" : "#c4461b";
      ctx.strokeRect(a + 0.5, top + 0.5, b - a - 1, plotH - 1);
    }
  }
}
