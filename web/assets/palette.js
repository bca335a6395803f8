// Frame colors: one palette of indices, so a draw can fill all boxes of one
// color with a single path.

import { hash32 } from "./util.js";
import { frameInfo } from "./api.js";

export const PAL = [];
const WARM = 0, WARM_N = 24, PALE = WARM + WARM_N;
for (let i = 0; i < WARM_N; i++) {
  // inferno's "hot" palette, spread deterministically.
  const a = (i * 7 % WARM_N) / WARM_N, b = (i * 11 % WARM_N) / WARM_N, c = (i * 5 % WARM_N) / WARM_N;
  PAL[WARM + i] = `rgb(${Math.round(205 + 50 * c)},${Math.round(80 + 150 * a)},${Math.round(25 + 45 * b)})`;
  PAL[PALE + i] = `rgb(${Math.round(240 + 12 * c)},${Math.round(222 + 26 * a)},${Math.round(210 + 20 * b)})`;
}
// Frames not named yet (`[object+0x...]`) in cool greys, so they read as such.
const GREY = PALE + WARM_N, GREY_N = 4, GREY_PALE = GREY + GREY_N;
export const MATCH = GREY_PALE + 1, OTHER = MATCH + 1, ROOT = OTHER + 1;
["#c5cad3", "#cdd1d9", "#bcc2cc", "#d3d7de"].forEach((c, i) => { PAL[GREY + i] = c; });
PAL[GREY_PALE] = "#eceef1"; PAL[MATCH] = "#e879f9"; PAL[OTHER] = null; PAL[ROOT] = "#d9dde5";
export const DIFF_RED = ROOT + 1, DIFF_BLUE = DIFF_RED + 10, DIFF_SAME = DIFF_BLUE + 10, DIFF_DIM = DIFF_SAME + 1;
for (let level = 1; level <= 10; level++) {
  PAL[DIFF_RED + level - 1] = `hsl(2,${60 + 2 * level}%,${88 - 3.3 * level}%)`;
  PAL[DIFF_BLUE + level - 1] = `hsl(215,${60 + 2 * level}%,${88 - 3.6 * level}%)`;
}
PAL[DIFF_SAME] = "hsl(0,0%,84%)"; PAL[DIFF_DIM] = "#f0f1f3";
// Language families: Python in blues, Java in greens, each with its pale
// variants (the legend under the flame graph says so).
const FAMILY_N = 8, PY = DIFF_DIM + 1, PY_PALE = PY + FAMILY_N, JAVA = PY_PALE + FAMILY_N, JAVA_PALE = JAVA + FAMILY_N;
for (let i = 0; i < FAMILY_N; i++) {
  const a = (i * 3 % FAMILY_N) / FAMILY_N, b = (i * 5 % FAMILY_N) / FAMILY_N;
  PAL[PY + i] = `hsl(${Math.round(200 + 24 * a)},${Math.round(50 + 25 * b)}%,${Math.round(52 + 14 * a)}%)`;
  PAL[PY_PALE + i] = `hsl(${Math.round(200 + 24 * a)},60%,90%)`;
  PAL[JAVA + i] = `hsl(${Math.round(100 + 35 * a)},${Math.round(38 + 22 * b)}%,${Math.round(42 + 16 * a)}%)`;
  PAL[JAVA_PALE + i] = `hsl(${Math.round(100 + 35 * a)},45%,88%)`;
}
const FAMILY = { python: PY, java: JAVA };
export const PAL_SIZE = JAVA_PALE + FAMILY_N;
// The washed-out color of each color, for frames a search does not match.
export const PALE_OF = new Uint8Array(PAL_SIZE).map((_, c) => (
  c < PALE ? c + PALE
    : c >= GREY && c < GREY + GREY_N ? GREY_PALE
      : (c >= PY && c < PY_PALE) || (c >= JAVA && c < JAVA_PALE) ? c + FAMILY_N : c));

// A frame's color from its name and language (stable across profiles and
// reloads): a runtime's family, grey for frames not named, else warm.
export const NO_COLOR = 255;
export function colorOfName(name) {
  const hash = hash32(name);
  const info = frameInfo.get(name);
  const family = info && FAMILY[info.language];
  if (family !== undefined) return family + (hash % FAMILY_N);
  return name.charCodeAt(0) === 91 /* [ */ ? GREY + (hash % GREY_N) : WARM + (hash % WARM_N);
}

// Red: a bigger share of the second profile; blue: smaller. Relative
// change of the node's share, so a frame that appears or vanishes is full.
// An absolute diff (memory in use) compares amounts: red grew.
export function diffColors(tree) {
  const out = new Uint8Array(tree.size);
  const A = tree.absolute ? 1 : tree.sideA[0] || 1, B = tree.absolute ? 1 : tree.sideB[0] || 1;
  for (let i = 0; i < tree.size; i++) {
    const a = tree.sideA[i] / A, b = tree.sideB[i] / B;
    const top = Math.max(a, b);
    const r = top > 0 ? (b - a) / top : 0;
    if (Math.abs(r) < 0.05) { out[i] = DIFF_SAME; continue; }
    const level = Math.min(10, Math.max(1, Math.ceil(Math.abs(r) * 10)));
    out[i] = (r > 0 ? DIFF_RED : DIFF_BLUE) + level - 1;
  }
  return out;
}

export function stripes() {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 6;
  const c = tile.getContext("2d");
  c.fillStyle = "#d5d8de"; c.fillRect(0, 0, 6, 6);
  c.strokeStyle = "#a9afba"; c.lineWidth = 1.5;
  c.beginPath(); c.moveTo(0, 6); c.lineTo(6, 0); c.moveTo(-1, 1); c.lineTo(1, -1); c.moveTo(5, 7); c.lineTo(7, 5); c.stroke();
  return tile;
}
