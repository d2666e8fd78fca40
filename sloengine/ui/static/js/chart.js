// A small SVG line chart: time on x, one or more series on y, dashed threshold lines.
// Gaps (null) break a line instead of drawing a made-up zero. Threshold labels sit at the
// left end: the present, where lines move, is at the right. The chart is an image with
// a text alternative; series are told apart by dash pattern and legend text, not colour only.

import { clock, esc, toNumber } from "./format.js";

const W = 640;
const H = 200;
const M = { top: 10, right: 14, bottom: 24, left: 60 };

function niceStep(span, ticks) {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;  // 3 to 6 ticks
}

function finite(values) {
  return values.map(toNumber).filter((v) => v !== null && Number.isFinite(v));
}

function dateLabel(t, span) {
  if (span <= 2 * 86400) return clock(t).slice(0, 5);
  return new Date(t * 1000).toISOString().slice(5, 10);
}

let chartCount = 0;

/**
 * @param {object} o
 * @param {string} o.title            accessible name, also the visible caption
 * @param {number[]} o.t              unix seconds
 * @param {{label: string, values: any[], cls: string}[]} o.series
 * @param {{label: string, value: number, cls?: string}[]} [o.thresholds]
 * @param {(v: number) => string} o.format   y tick and summary formatting
 * @param {number} [o.yMin] @param {number} [o.yMax]
 */
export function lineChart(o) {
  const id = `chart-${++chartCount}`;
  const thresholds = o.thresholds || [];
  const t = o.t || [];
  const all = [...o.series.flatMap((s) => finite(s.values)), ...thresholds.map((h) => h.value)];
  let lo = o.yMin ?? (all.length ? Math.min(...all) : 0);
  let hi = o.yMax ?? (all.length ? Math.max(...all) : 1);
  if (o.yMin === undefined && lo > 0 && lo < hi * 0.5) lo = 0;
  if (hi - lo < 1e-12) { hi = lo + (Math.abs(lo) || 1) * 0.1; lo -= (Math.abs(lo) || 1) * 0.1; }
  const pad = (hi - lo) * 0.05;
  if (o.yMax === undefined) hi += pad;
  if (o.yMin === undefined && lo !== 0) lo -= pad;
  const t0 = t.length ? t[0] : 0;
  const t1 = t.length > 1 ? t[t.length - 1] : t0 + 1;
  const x = (v) => M.left + ((v - t0) / (t1 - t0)) * (W - M.left - M.right);
  const y = (v) => M.top + (1 - (v - lo) / (hi - lo)) * (H - M.top - M.bottom);
  const clampY = (v) => y(Math.min(Math.max(v, lo), hi));

  const parts = [];
  const step = niceStep(hi - lo, 4);
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`,
      `<text class="tick" x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(o.format(v))}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const tv = t0 + ((t1 - t0) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    parts.push(`<text class="tick" x="${x(tv).toFixed(1)}" y="${H - 6}" text-anchor="${anchor}">${esc(dateLabel(tv, t1 - t0))}</text>`);
  }
  for (const h of thresholds) {
    const yy = clampY(h.value).toFixed(1);
    parts.push(`<line class="threshold ${esc(h.cls || "")}" x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}"/>`,
      `<text class="threshold-label" x="${M.left + 4}" y="${(Number(yy) - 4).toFixed(1)}">${esc(h.label)}</text>`);
  }
  for (const s of o.series) {
    let d = "";
    let pen = false;
    s.values.forEach((raw, i) => {
      let v = toNumber(raw);
      if (v === Infinity) v = hi;
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(t[i]).toFixed(1)} ${clampY(v).toFixed(1)}`;
      if (!pen) d += "l0 0";  // a lone point still shows as a dot (round caps)
      pen = true;
    });
    parts.push(`<path class="series ${esc(s.cls)}" d="${d}"><title>${esc(s.label)}</title></path>`);
  }

  const latest = o.series.map((s) => {
    const vals = s.values.map(toNumber).filter((v) => v !== null);
    return `${s.label}: ${vals.length ? o.format(vals[vals.length - 1]) : "no data"}`;
  }).join("; ");
  const legend = [
    ...o.series.map((s) => `<li><span class="swatch ${esc(s.cls)}" aria-hidden="true"></span>${esc(s.label)}</li>`),
    ...thresholds.map((h) => `<li><span class="swatch threshold ${esc(h.cls || "")}" aria-hidden="true"></span>${esc(h.label)}</li>`),
  ].join("");
  return `<figure class="chart">
  <figcaption id="${id}-cap">${esc(o.title)}</figcaption>
  <svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-cap ${id}-desc" preserveAspectRatio="xMidYMid meet">
    <desc id="${id}-desc">Latest values: ${esc(latest)}</desc>
    ${parts.join("")}
  </svg>
  <ul class="legend">${legend}</ul>
</figure>`;
}
