// Canaries: every analysed canary with its current verdict, the one-line reason and every
// guard's signals; the verdict last served to a controller is shown beside it.

import { esc, timestamp } from "./format.js";
import { guardsTable, verdictBadge } from "./guards.js";

function card(c, i) {
  const v = c.current;
  const href = `#/canary/${[c.service, c.canary, c.baseline].map(encodeURIComponent).join("/")}`;
  const served = c.served
    ? `Last served to a controller: ${verdictBadge(c.served.verdict)} at ${timestamp(c.served.eval_time)}${c.served.revision ? ` (revision ${esc(c.served.revision)})` : ""}`
    : "Not yet asked for by a controller.";
  return `<section class="canary" data-canary="${esc(c.service)}/${esc(c.canary)}/${esc(c.baseline)}" aria-labelledby="canary-h-${i}">
    <h2 id="canary-h-${i}"><a href="${href}">${esc(c.service)}: ${esc(c.canary)} vs ${esc(c.baseline)}</a>
      <span class="verdict">${v ? verdictBadge(v.verdict) : verdictBadge("unknown")}</span></h2>
    <p class="reason">${v ? esc(v.reason) : esc(c.error)}</p>
    <p class="muted">${served}</p>
    ${v ? guardsTable(v) : ""}
  </section>`;
}

export function mount(main, _params, _ctx) {
  main.innerHTML = `<h1>Canaries</h1><div id="canary-list"><p>Loading…</p></div>`;
  const list = main.querySelector("#canary-list");
  return {
    url: () => "/ui/api/canaries",
    update(d) {
      if (!d.canaries.length) {
        list.innerHTML = `<p id="no-canaries">No canary analysed yet${d.plugin ? "" : " (the canary plugin is not loaded)"}: a canary appears
          once a controller asks for its verdict or once both its variants push metrics.</p>`;
        return;
      }
      list.innerHTML = d.canaries.map(card).join("");
    },
  };
}
