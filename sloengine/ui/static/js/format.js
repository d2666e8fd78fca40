// Number, time and HTML formatting shared by every page. Values arrive as numbers, null
// (no data) or the strings "inf" / "-inf" (JSON has no infinity).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function toNumber(value) {
  if (value === "inf") return Infinity;
  if (value === "-inf") return -Infinity;
  return typeof value === "number" ? value : null;
}

export const DASH = "–";

export function percent(ratio, digits = 2) {
  const x = toNumber(ratio);
  if (x === null) return DASH;
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  return `${(x * 100).toFixed(digits)}%`;
}

// Objectives are written like 99.9: as many decimals as they need, no more.
export function objective(ratio) {
  return `${parseFloat((ratio * 100).toFixed(4))}%`;
}

export function burn(value) {
  const x = toNumber(value);
  if (x === null) return DASH;
  if (!Number.isFinite(x)) return "∞";
  if (x === 0) return "0";
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

export function number(value, digits = 4) {
  const x = toNumber(value);
  if (x === null) return DASH;
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return x.toPrecision(digits);
}

export function seconds(value) {
  const x = toNumber(value);
  if (x === null) return DASH;
  return x < 1 ? `${(x * 1000).toFixed(0)} ms` : `${x.toFixed(2)} s`;
}

export function pvalue(value) {
  const x = toNumber(value);
  if (x === null) return DASH;
  return x < 0.001 ? x.toExponential(1) : x.toFixed(3);
}

const UNITS = [["d", 86400], ["h", 3600], ["m", 60]];

export function duration(totalSeconds) {
  const s = Math.round(toNumber(totalSeconds) ?? 0);
  for (const [unit, size] of UNITS) if (s >= size && s % size === 0) return `${s / size}${unit}`;
  return `${s}s`;
}

export function clock(unixSeconds) {
  if (typeof unixSeconds !== "number") return DASH;
  return new Date(unixSeconds * 1000).toISOString().slice(11, 19);
}

export function timestamp(unixSeconds) {
  if (typeof unixSeconds !== "number") return DASH;
  return new Date(unixSeconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

// Text, not only colour, says what a state is: the badge shows the word.
export function badge(state, kind = "state") {
  const text = String(state ?? "unknown");
  const cls = text.toLowerCase().replace(/[^a-z]+/g, "-");
  return `<span class="badge ${kind}-${cls}">${esc(text)}</span>`;
}

export function labels(map) {
  return Object.entries(map || {})
    .map(([k, v]) => `<span class="label">${esc(k)}=${esc(v)}</span>`)
    .join(" ");
}
