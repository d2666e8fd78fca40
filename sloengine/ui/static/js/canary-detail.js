// One canary: verdict and guards now, canary vs baseline error ratio and latency over time,
// the verdict timeline (audit log) and the rollback actions with their results.

import { lineChart } from "./chart.js";
import { badge, esc, percent, seconds, timestamp } from "./format.js";
import { guardsTable, verdictBadge } from "./guards.js";

const RANGES = ["1h", "6h", "1d", "7d"];

function timeline(d) {
  const items = d.timeline.map((e) => `<li><time>${timestamp(e.time)}</time>
      ${verdictBadge(e.from)} → ${verdictBadge(e.to)}${e.revision ? ` revision ${esc(e.revision)}` : ""}
      <span class="muted">by ${esc(e.actor)}:</span> ${esc(e.reason)}</li>`);
  if (d.current) {
    items.push(`<li class="now"><time>${timestamp(d.current.eval_time)}</time> now ${verdictBadge(d.current.verdict)}
      <span class="muted">(current evaluation)</span></li>`);
  }
  return items.length ? `<ol class="timeline" id="verdict-timeline">${items.join("")}</ol>` : "<p>No verdict recorded yet.</p>";
}

// The verdict over the charts' time range as coloured, labelled segments (each change
// recorded in the audit log starts one; the last runs to now).
function verdictStrip(d) {
  const t = d.series.t;
  if (!t.length) return "";
  const t0 = t[0];
  const t1 = t[t.length - 1];
  const W = 640;
  const x = (v) => 60 + ((Math.min(Math.max(v, t0), t1) - t0) / (t1 - t0 || 1)) * (W - 74);
  const changes = [{ time: t0, verdict: "none" }, ...d.timeline.map((e) => ({ time: e.time, verdict: e.to }))];
  if (d.current) changes.push({ time: d.current.eval_time, verdict: d.current.verdict });
  const parts = [];
  const words = [];
  changes.forEach((c, i) => {
    const end = i + 1 < changes.length ? changes[i + 1].time : t1;
    if (end <= t0 || c.time > t1) return;
    const x0 = x(c.time);
    const x1 = Math.max(x(end), x0 + 2);
    const cls = `verdict-${String(c.verdict).toLowerCase()}`;
    parts.push(`<rect class="strip ${cls}" x="${x0.toFixed(1)}" y="4" width="${(x1 - x0).toFixed(1)}" height="32"/>`);
    if (x1 - x0 > 40) parts.push(`<text class="strip-label ${cls}" x="${(x0 + 6).toFixed(1)}" y="26">${esc(c.verdict)}</text>`);
    words.push(`${c.verdict} from ${timestamp(Math.max(c.time, t0))}`);
  });
  if (!parts.length) return "";
  return `<figure class="chart"><figcaption id="strip-cap">Verdict over the range</figcaption>
    <svg viewBox="0 0 ${W} 40" role="img" aria-labelledby="strip-cap strip-desc"><desc id="strip-desc">${esc(words.join("; "))}</desc>${parts.join("")}</svg></figure>`;
}

function rollbacks(d) {
  if (!d.rollbacks.length) return "<p id='no-rollbacks'>No rollback for this service in the audit log.</p>";
  const rows = d.rollbacks.map((r) => `<tr><td>${timestamp(r.time)}</td><td>${badge(r.result, "rollback")}</td>
      <td>${esc(r.revision || "–")}</td><td class="num">${r.attempt ?? "–"}</td><td>${esc(r.actor)}</td>
      <td>${esc(r.reason)}${r.error ? ` <span class="error">${esc(r.error)}</span>` : ""}</td></tr>`).join("");
  return `<table class="data" id="rollbacks-table"><caption>Rollback actions and results</caption>
    <thead><tr><th scope="col">Time</th><th scope="col">Result</th><th scope="col">Revision</th>
    <th scope="col">Attempt</th><th scope="col">Source</th><th scope="col">Reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

// Operators' overrides in force (sloengine override ...): who, what, why, when.
function overrides(d) {
  const o = d.overrides || {};
  const rows = [
    ...(o.rollback_pauses || []).map((p) => ["automatic rollback paused", "–", p]),
    ...(o.forced_verdicts || []).map((f) => [`verdict forced to ${f.verdict}`, f.revision || "every revision", f]),
  ].map(([what, revision, x]) => `<tr><td>${esc(what)}</td><td>${esc(revision)}</td><td>${esc(x.actor)}</td>
      <td>${esc(x.reason)}</td><td>${timestamp(x.at_unix_s)}</td></tr>`).join("");
  if (!rows) return "<p id='no-overrides'>No manual override in force.</p>";
  return `<table class="data" id="overrides-table"><caption>Manual overrides in force</caption>
    <thead><tr><th scope="col">What</th><th scope="col">Revision</th><th scope="col">Who</th>
    <th scope="col">Why</th><th scope="col">Since</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function charts(d) {
  const s = d.series;
  const q = `p${Math.round(d.quantile * 100)}`;
  const errLimit = d.thresholds.max_error_ratio;
  const latLimit = d.thresholds.max_latency_s;
  return [
    lineChart({
      title: `Error ratio, canary vs baseline (each point: the ${Math.round(d.point_window_s / 60)} min before it)`,
      t: s.t,
      series: [
        { label: `canary (${d.canary})`, values: s.canary_error_ratio, cls: "s1" },
        { label: `baseline (${d.baseline})`, values: s.baseline_error_ratio, cls: "s2" },
      ],
      thresholds: errLimit !== undefined ? [{ label: `max ${percent(errLimit, 1)}`, value: errLimit, cls: "bad" }] : [],
      format: (v) => percent(v, 1), yMin: 0,
    }),
    lineChart({
      title: `Latency ${q}, canary vs baseline`,
      t: s.t,
      series: [
        { label: `canary (${d.canary})`, values: s.canary_latency_s, cls: "s1" },
        { label: `baseline (${d.baseline})`, values: s.baseline_latency_s, cls: "s2" },
      ],
      thresholds: latLimit !== undefined ? [{ label: `max ${seconds(latLimit)}`, value: latLimit, cls: "bad" }] : [],
      format: (v) => seconds(v), yMin: 0,
    }),
  ].join("");
}

export function mount(main, params, ctx) {
  const [service, canary, baseline] = params;
  let range = "1h";
  main.innerHTML = `
    <p class="crumbs"><a href="#/canaries">Canaries</a> › ${esc(service)}</p>
    <h1>${esc(service)}: ${esc(canary)} vs ${esc(baseline)} <span id="canary-verdict"></span></h1>
    <p id="canary-reason" class="reason"></p>
    <p id="canary-served" class="muted"></p>
    <div class="controls" role="group" aria-label="Time range">
      ${RANGES.map((r) => `<button type="button" data-range="${r}" aria-pressed="${r === range}">${r}</button>`).join("")}
    </div>
    <section aria-label="Charts"><div id="canary-charts" class="charts"></div></section>
    <h2>Guards now</h2><div id="canary-guards"></div>
    <h2>Verdict timeline</h2><div id="canary-strip" class="charts"></div><div id="canary-timeline"></div>
    <h2>Manual overrides</h2><div id="canary-overrides"></div>
    <h2>Rollbacks</h2><div id="canary-rollbacks"></div>`;
  main.querySelector("[aria-label='Time range']").addEventListener("click", (event) => {
    const r = event.target.closest("button[data-range]")?.dataset.range;
    if (!r) return;
    range = r;
    for (const b of main.querySelectorAll("button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === r));
    ctx.refresh();
  });
  const q = (sel) => main.querySelector(sel);
  return {
    url: () => `/ui/api/canary?service=${encodeURIComponent(service)}&canary=${encodeURIComponent(canary)}&baseline=${encodeURIComponent(baseline)}&range=${range}`,
    fail(message) { q("#canary-reason").innerHTML = `<span class="error">${esc(message)}</span>`; },
    update(d) {
      q("#canary-verdict").innerHTML = d.current ? verdictBadge(d.current.verdict) : "";
      q("#canary-reason").textContent = d.current ? d.current.reason : d.error;
      q("#canary-served").innerHTML = d.served
        ? `Last served to a controller: ${verdictBadge(d.served.verdict)} at ${timestamp(d.served.eval_time)}`
        : "Not yet asked for by a controller.";
      q("#canary-charts").innerHTML = charts(d);
      q("#canary-guards").innerHTML = guardsTable(d.current, "canary-guards-table");
      q("#canary-strip").innerHTML = verdictStrip(d);
      q("#canary-timeline").innerHTML = timeline(d);
      q("#canary-overrides").innerHTML = overrides(d);
      q("#canary-rollbacks").innerHTML = rollbacks(d);
    },
  };
}
