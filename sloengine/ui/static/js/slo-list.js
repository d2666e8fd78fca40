// SLO list: every SLO with its SLI, error budget (bar + number), burn rate per policy
// window and alert state. Sort by any column, filter by label, search by text. The rows
// are built as one HTML string: 1,000 SLOs draw in one layout pass.

import { badge, burn, duration, esc, objective, percent, toNumber } from "./format.js";

const STATE_RANK = { error: 0, page: 1, ticket: 2, ok: 3, "no data": 4 };
const FIXED = [
  ["service", "Service"], ["name", "SLO"], ["objective", "Objective"], ["period_s", "Window"],
  ["sli", "SLI"], ["budget", "Error budget left"],
];

function sortValue(row, key) {
  if (key === "state") return STATE_RANK[row.state] ?? 9;
  if (key.startsWith("burn:")) return toNumber(row.burn[Number(key.slice(5))]);
  const v = row[key];
  return typeof v === "string" ? v.toLowerCase() : toNumber(v);
}

function compare(a, b, key, dir) {
  const va = sortValue(a, key);
  const vb = sortValue(b, key);
  if (va === vb) return a.service.localeCompare(b.service) || a.name.localeCompare(b.name);
  if (va === null) return 1;  // rows without data sort last either way
  if (vb === null) return -1;
  return (va < vb ? -1 : 1) * dir;
}

function budgetCell(value) {
  const x = toNumber(value);
  if (x === null) return `<td class="num" data-value="">–</td>`;
  const width = Math.max(0, Math.min(1, x)) * 100;
  const level = x <= 0 ? "bad" : x < 0.25 ? "warn" : "ok";
  return `<td data-value="${x}"><div class="budget"><div class="bar" aria-hidden="true"><span class="fill fill-${level}" style="width:${width.toFixed(1)}%"></span></div><span class="num">${percent(x, 1)}</span></div></td>`;
}

function rowHtml(r) {
  const href = `#/slo/${encodeURIComponent(r.service)}/${encodeURIComponent(r.name)}`;
  const burns = r.burn.map((b) => `<td class="num" data-value="${b ?? ""}">${burn(b)}</td>`).join("");
  const title = r.error ? ` title="${esc(r.error)}"` : "";
  return `<tr data-id="${esc(r.service)}/${esc(r.name)}">`
    + `<td>${esc(r.service)}</td>`
    + `<td><a href="${href}">${esc(r.name)}</a></td>`
    + `<td class="num" data-value="${r.objective}">${objective(r.objective)}</td>`
    + `<td class="num">${duration(r.period_s)}</td>`
    + `<td class="num" data-value="${r.sli ?? ""}">${percent(r.sli, 3)}</td>`
    + budgetCell(r.budget) + burns
    + `<td data-value="${esc(r.state)}"${title}>${badge(r.state)}</td></tr>`;
}

export function mount(main, _params, _ctx) {
  const view = { sortKey: "service", sortDir: 1, label: "", search: "", data: null };
  main.innerHTML = `
    <h1>Service level objectives</h1>
    <form class="controls" role="search" onsubmit="return false">
      <label>Search <input id="slo-search" type="search" placeholder="service, SLO or label" autocomplete="off"></label>
      <label>Label <select id="slo-label"><option value="">all labels</option></select></label>
      <span id="slo-count" class="count" aria-live="polite"></span>
    </form>
    <div class="table-wrap">
      <table id="slo-table" class="data">
        <caption class="sr-only">SLOs; column headers sort the table</caption>
        <thead><tr id="slo-head"></tr></thead>
        <tbody id="slo-rows"><tr><td>Loading…</td></tr></tbody>
      </table>
    </div>`;
  const head = main.querySelector("#slo-head");
  const body = main.querySelector("#slo-rows");
  const count = main.querySelector("#slo-count");
  const labelSelect = main.querySelector("#slo-label");
  let firstDraw = true;

  function headers(windows) {
    const cols = [...FIXED, ...windows.map((w, i) => [`burn:${i}`, `Burn ${duration(w)}`]), ["state", "Alert"]];
    head.innerHTML = cols.map(([key, text]) => {
      const sorted = key === view.sortKey;
      const aria = sorted ? (view.sortDir > 0 ? "ascending" : "descending") : "none";
      const arrow = sorted ? (view.sortDir > 0 ? " ▲" : " ▼") : "";
      const numeric = !["service", "name", "budget", "state"].includes(key);
      return `<th scope="col" aria-sort="${aria}"${numeric ? ' class="num"' : ""}><button type="button" data-sort="${key}">${esc(text)}${arrow}</button></th>`;
    }).join("");
  }

  function labelOptions(rows) {
    const seen = new Set();
    for (const r of rows) for (const [k, v] of Object.entries(r.labels)) seen.add(`${k}=${v}`);
    const wanted = ["", ...[...seen].sort()];
    const have = [...labelSelect.options].map((o) => o.value);
    if (wanted.join("\n") === have.join("\n")) return;
    labelSelect.innerHTML = wanted.map((v) => `<option value="${esc(v)}">${v ? esc(v) : "all labels"}</option>`).join("");
    labelSelect.value = wanted.includes(view.label) ? view.label : "";
  }

  function matches(r) {
    if (view.label) {
      const [k, ...rest] = view.label.split("=");
      if (r.labels[k] !== rest.join("=")) return false;
    }
    if (!view.search) return true;
    const text = `${r.service} ${r.name} ${Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(" ")}`;
    return text.toLowerCase().includes(view.search);
  }

  function draw() {
    const data = view.data;
    if (!data) return;
    headers(data.windows);
    const rows = data.slos.filter(matches).sort((a, b) => compare(a, b, view.sortKey, view.sortDir));
    const html = rows.length
      ? rows.map(rowHtml).join("")
      : `<tr><td colspan="${FIXED.length + data.windows.length + 1}">No SLO matches.</td></tr>`;
    if (firstDraw) performance.mark("slos-html-built");
    body.innerHTML = html;
    count.textContent = `${rows.length} of ${data.slos.length} SLOs`;
    if (firstDraw) {
      firstDraw = false;
      performance.mark("slos-dom-built");
      void body.offsetHeight;  // include style and layout in the measured render time
      performance.mark("slos-laid-out");
      window.__ui = { ...(window.__ui || {}), slosRenderedMs: performance.now(), slosRows: rows.length };
      document.documentElement.dataset.slosRendered = String(rows.length);
    }
  }

  head.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-sort]")?.dataset.sort;
    if (!key) return;
    view.sortDir = key === view.sortKey ? -view.sortDir : 1;
    view.sortKey = key;
    draw();
  });
  main.querySelector("#slo-search").addEventListener("input", (event) => {
    view.search = event.target.value.trim().toLowerCase();
    draw();
  });
  labelSelect.addEventListener("change", () => { view.label = labelSelect.value; draw(); });

  return {
    url: () => "/ui/api/slos",
    update(data) { if (firstDraw) performance.mark("slos-data"); view.data = data; labelOptions(data.slos); draw(); },
  };
}
