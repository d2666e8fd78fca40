// SLO list: every SLO with its SLI, error budget (bar + number), burn rate per policy
// window and alert state. Sort by any column, filter by label, search by text.
//
// Thousands of rows: the table is an ARIA table of CSS-grid rows, built as one HTML
// string, in chunks of CHUNK rows with `content-visibility: auto`, so the browser lays out
// and paints only the chunks on screen (the others stay in the DOM: findable, readable by
// assistive technology, laid out when scrolled to).

import { badge, burn, duration, esc, objective, percent, toNumber } from "./format.js";

const CHUNK = 50;
const STATE_RANK = { error: 0, page: 1, ticket: 2, ok: 3, "no data": 4 };
const FIXED = [
  ["service", "Service"], ["name", "SLO"], ["objective", "Objective"], ["period_s", "Window"],
  ["sli", "SLI"], ["budget", "Error budget left"],
];
const TEXT_COLUMNS = new Set(["service", "name", "state"]);

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

// One element per budget cell (the bar is a CSS background sized by --fill); the number is
// the cell's text, so the bar is decoration.
function budgetCell(value) {
  const x = toNumber(value);
  if (x === null) return `<div role="cell" class="num" data-value="">–</div>`;
  const fill = Math.max(0, Math.min(1, x));
  const level = x <= 0 ? "bad" : x < 0.25 ? "warn" : "ok";
  return `<div role="cell" class="budget budget-${level}" style="--fill:${fill.toFixed(3)}" data-value="${x}">${percent(x, 1)}</div>`;
}

function rowHtml(r) {
  const href = `#/slo/${encodeURIComponent(r.service)}/${encodeURIComponent(r.name)}`;
  const burns = r.burn.map((b) => `<div role="cell" class="num" data-value="${b ?? ""}">${burn(b)}</div>`).join("");
  const title = r.error ? ` title="${esc(r.error)}"` : "";
  return `<div role="row" class="grow" data-id="${esc(r.service)}/${esc(r.name)}">`
    + `<div role="cell">${esc(r.service)}</div>`
    + `<div role="cell"><a href="${href}">${esc(r.name)}</a></div>`
    + `<div role="cell" class="num" data-value="${r.objective}">${objective(r.objective)}</div>`
    + `<div role="cell" class="num">${duration(r.period_s)}</div>`
    + `<div role="cell" class="num" data-value="${r.sli ?? ""}">${percent(r.sli, 3)}</div>`
    + budgetCell(r.budget) + burns
    + `<div role="cell" data-value="${esc(r.state)}"${title}>${badge(r.state)}</div></div>`;
}

function rowsHtml(rows) {
  const chunks = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    chunks.push(`<div class="chunk">${rows.slice(i, i + CHUNK).map(rowHtml).join("")}</div>`);
  }
  return chunks.join("");
}

export function mount(main, _params, _ctx) {
  const view = { sortKey: "service", sortDir: 1, label: "", search: "", data: null };
  main.innerHTML = `
    <h1 id="slo-title">Service level objectives</h1>
    <form class="controls" role="search" onsubmit="return false">
      <label>Search <input id="slo-search" type="search" placeholder="service, SLO or label" autocomplete="off"></label>
      <label>Label <select id="slo-label"><option value="">all labels</option></select></label>
      <span id="slo-count" class="count" aria-live="polite"></span>
    </form>
    <div class="table-wrap">
      <div id="slo-table" class="grid-table" role="table" aria-labelledby="slo-title" aria-describedby="slo-count">
        <div role="rowgroup" class="grid-head"><div role="row" class="grow" id="slo-head"></div></div>
        <div role="rowgroup" id="slo-rows"><div role="row" class="grow"><div role="cell">Loading…</div></div></div>
      </div>
    </div>`;
  const table = main.querySelector("#slo-table");
  const head = main.querySelector("#slo-head");
  const body = main.querySelector("#slo-rows");
  const count = main.querySelector("#slo-count");
  const labelSelect = main.querySelector("#slo-label");
  let firstDraw = true;

  function headers(windows) {
    const cols = [...FIXED, ...windows.map((w, i) => [`burn:${i}`, `Burn ${duration(w)}`]), ["state", "Alert"]];
    table.style.setProperty("--burn-columns", String(windows.length));
    head.innerHTML = cols.map(([key, text]) => {
      const sorted = key === view.sortKey;
      const aria = sorted ? (view.sortDir > 0 ? "ascending" : "descending") : "none";
      const arrow = sorted ? (view.sortDir > 0 ? " ▲" : " ▼") : "";
      const cls = TEXT_COLUMNS.has(key) ? "" : ' class="num"';
      return `<div role="columnheader" aria-sort="${aria}"${cls}><button type="button" data-sort="${key}">${esc(text)}${arrow}</button></div>`;
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
      ? rowsHtml(rows)
      : `<div role="row" class="grow"><div role="cell" class="empty">No SLO matches.</div></div>`;
    if (firstDraw) performance.mark("slos-html-built");
    body.innerHTML = html;
    table.setAttribute("aria-rowcount", String(rows.length + 1));
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
