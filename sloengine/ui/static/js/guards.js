// Per-guard signals of a verdict: absolute (threshold in both windows) and relative
// (statistical test against the baseline), with values, p-values, effect sizes, samples.

import { badge, burn, duration, esc, number, percent, pvalue, seconds } from "./format.js";

export function guardValue(guard, value) {
  if (guard.startsWith("latency")) return seconds(value);
  if (guard.startsWith("slo_burn")) return `${burn(value)}×`;
  return percent(value, 2);
}

export function verdictBadge(verdict) {
  return badge(verdict || "unknown", "verdict");
}

export function guardsTable(v, id = "") {
  if (!v || !v.guards.length) return "<p>No guard evaluated.</p>";
  const rows = v.guards.map((g) => `<tr class="guard">
      <th scope="row">${esc(g.guard)}</th>
      <td>${verdictBadge(g.verdict)}</td>
      <td class="num">${guardValue(g.guard, g.threshold)}</td>
      <td class="num">${guardValue(g.guard, g.canary_short)} / ${guardValue(g.guard, g.canary_long)}</td>
      <td class="num">${guardValue(g.guard, g.baseline_long)}</td>
      <td>${g.absolute_breached ? "breached" : "no"}</td>
      <td>${g.relative_breached ? "worse" : "no"}</td>
      <td class="num">${pvalue(g.p_value)}</td>
      <td class="num">${number(g.effect_size, 3)}</td>
      <td class="num">${number(g.canary_samples)} / ${number(g.baseline_samples)} <span class="muted">(decides at ${number(g.min_samples)})</span></td>
    </tr>
    <tr class="guard-reason"><td colspan="10">${esc(g.reason)}
      <span class="muted">· ${esc(g.test)} · windows ${duration(g.short_window_s)} / ${duration(g.long_window_s)}</span></td></tr>`).join("");
  return `<table class="data guards"${id ? ` id="${esc(id)}"` : ""}>
    <caption>Guards of ${esc(v.service)} ${esc(v.canary)} vs ${esc(v.baseline)}</caption>
    <thead><tr><th scope="col">Guard</th><th scope="col">Verdict</th><th scope="col" class="num">Threshold</th>
      <th scope="col" class="num">Canary short / long</th><th scope="col" class="num">Baseline long</th>
      <th scope="col">Absolute signal</th><th scope="col">Relative signal</th><th scope="col" class="num">p-value</th>
      <th scope="col" class="num">Effect size</th><th scope="col" class="num">Samples canary / baseline</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}
