// SLO detail: SLI and error budget over time (range picker), burn rate of each alert's two
// windows against the policy's factor, the multi-window alerts table and every window now.

import { lineChart } from "./chart.js";
import { badge, burn, duration, esc, labels, number, objective, percent, timestamp } from "./format.js";

const RANGES = ["1h", "6h", "1d", "7d", "30d"];

function alertsTable(alerts) {
  if (!alerts.length) return "<p>This SLO has no burn-rate alerts (disabled in its spec).</p>";
  const rows = alerts.map((a) => `<tr>
      <td>${badge(a.severity, "sev")}</td><td class="num">${duration(a.short_window_s)}</td>
      <td class="num">${duration(a.long_window_s)}</td><td class="num">${burn(a.factor)}×</td>
      <td class="num">${burn(a.short_burn_rate)}</td><td class="num">${burn(a.long_burn_rate)}</td>
      <td>${badge(a.firing ? "firing" : "not firing", "fire")}</td></tr>`).join("");
  return `<table class="data" id="alerts-table">
    <caption>Multi-window burn-rate alerts</caption>
    <thead><tr><th scope="col">Severity</th><th scope="col" class="num">Short window</th><th scope="col" class="num">Long window</th>
      <th scope="col" class="num">Factor</th><th scope="col" class="num">Short burn</th><th scope="col" class="num">Long burn</th><th scope="col">State</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

function windowsTable(windows) {
  const rows = windows.map((w) => `<tr><td class="num">${duration(w.window_s)}</td>
      <td class="num">${number(w.requests)}</td><td class="num">${number(w.errors)}</td>
      <td class="num">${percent(w.error_ratio, 3)}</td><td class="num">${burn(w.burn_rate)}</td></tr>`).join("");
  return `<table class="data" id="windows-table">
    <caption>Every window now</caption>
    <thead><tr><th scope="col" class="num">Window</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Errors</th>
      <th scope="col" class="num">Error ratio</th><th scope="col" class="num">Burn rate</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

function charts(d) {
  const h = d.history;
  if (!h) return "";
  const out = [
    lineChart({
      title: "SLI over time (over the SLO window)", t: h.t,
      series: [{ label: "SLI", values: h.sli, cls: "s1" }],
      thresholds: [{ label: `objective ${objective(d.slo.objective)}`, value: d.slo.objective }],
      format: (v) => percent(v, 2),
    }),
    lineChart({
      title: "Error budget remaining", t: h.t,
      series: [{ label: "budget remaining", values: h.budget, cls: "s1" }],
      thresholds: [{ label: "budget exhausted", value: 0, cls: "bad" }],
      format: (v) => percent(v, 0), yMax: 1,
    }),
  ];
  for (const a of d.thresholds) {
    out.push(lineChart({
      title: `Burn rate, ${a.severity} alert: ${duration(a.short_window_s)} and ${duration(a.long_window_s)} windows`,
      t: h.t,
      series: [
        { label: `${duration(a.short_window_s)} window`, values: h.burn[String(a.short_window_s)] || [], cls: "s1" },
        { label: `${duration(a.long_window_s)} window`, values: h.burn[String(a.long_window_s)] || [], cls: "s2" },
      ],
      thresholds: [{ label: `factor ${burn(a.factor)}×`, value: a.factor, cls: "bad" }],
      format: (v) => burn(v), yMin: 0,
    }));
  }
  return out.join("");
}

export function mount(main, params, ctx) {
  const [service, name] = params;
  let range = "1d";
  main.innerHTML = `
    <p class="crumbs"><a href="#/slos">SLOs</a> › ${esc(service)}</p>
    <h1>${esc(service)} / ${esc(name)}</h1>
    <div id="slo-meta" class="meta"></div>
    <div class="controls" role="group" aria-label="Time range">
      ${RANGES.map((r) => `<button type="button" class="range" data-range="${r}" aria-pressed="${r === range}">${r}</button>`).join("")}
    </div>
    <div id="slo-summary" class="tiles"></div>
    <section aria-label="Charts"><div id="slo-charts" class="charts"></div></section>
    <div id="slo-alerts"></div>
    <div id="slo-windows"></div>`;
  main.querySelector("[aria-label='Time range']").addEventListener("click", (event) => {
    const r = event.target.closest("button[data-range]")?.dataset.range;
    if (!r) return;
    range = r;
    for (const b of main.querySelectorAll("button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === r));
    ctx.refresh();
  });

  return {
    url: () => `/ui/api/slo?service=${encodeURIComponent(service)}&name=${encodeURIComponent(name)}&range=${range}`,
    fail(message) { main.querySelector("#slo-summary").innerHTML = `<p class="error">${esc(message)}</p>`; },
    update(d) {
      const s = d.slo;
      main.querySelector("#slo-meta").innerHTML = `Objective <strong>${objective(s.objective)}</strong> over
        <strong>${duration(s.period_s)}</strong> · ${esc(s.kind)} SLI (${esc(s.source)}) · policy
        <strong>${esc(s.policy)}</strong> ${labels(s.labels)}${s.description ? `<br>${esc(s.description)}` : ""}`;
      const st = d.status;
      main.querySelector("#slo-summary").innerHTML = st ? `
        <div class="tile"><span class="tile-label">SLI</span><span class="tile-value" id="tile-sli">${percent(st.sli, 3)}</span></div>
        <div class="tile"><span class="tile-label">Error budget left</span><span class="tile-value" id="tile-budget">${percent(st.budget_remaining, 1)}</span></div>
        <div class="tile"><span class="tile-label">Alert state</span><span class="tile-value">${badge(st.state)}</span></div>
        <div class="tile"><span class="tile-label">Evaluated</span><span class="tile-value small">${timestamp(d.eval_time)}</span></div>`
        : `<p class="error">Cannot evaluate: ${esc(d.error)}</p>`;
      main.querySelector("#slo-charts").innerHTML = charts(d);
      main.querySelector("#slo-alerts").innerHTML = st ? alertsTable(st.alerts) : "";
      main.querySelector("#slo-windows").innerHTML = st ? windowsTable(st.windows) : "";
    },
  };
}
