// Audit log: the hash chain's verification status, then the newest entries first.

import { esc, timestamp } from "./format.js";

function verification(v, path, total) {
  if (!path) return `<p class="banner banner-muted" id="audit-status">No audit log configured.</p>`;
  if (v.ok) {
    const head = v.head_checked ? ", tail checked against the head file" : "";
    return `<p class="banner banner-ok" id="audit-status" data-ok="true"><strong>Chain verified:</strong>
      ${v.entries} entries intact${head}. <span class="muted">${esc(path)}</span></p>`;
  }
  const where = v.line ? ` at line ${v.line}` : "";
  return `<p class="banner banner-bad" id="audit-status" data-ok="false"><strong>Chain BROKEN${where}:</strong>
    ${esc(v.reason)} (${v.entries} of ${total} entries verified before it). <span class="muted">${esc(path)}</span></p>`;
}

function details(obj) {
  const text = JSON.stringify(obj ?? {});
  return text === "{}" ? "" : `<code>${esc(text.length > 300 ? `${text.slice(0, 300)}…` : text)}</code>`;
}

export function mount(main, _params, _ctx) {
  main.innerHTML = `<h1>Audit log</h1><div id="audit-verify"></div>
    <div class="table-wrap"><table class="data" id="audit-table">
      <caption>Newest entries first</caption>
      <thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th>
        <th scope="col">Reason</th><th scope="col">Details</th><th scope="col">Hash</th></tr></thead>
      <tbody id="audit-rows"></tbody></table></div>`;
  return {
    url: () => "/ui/api/audit?limit=500",
    update(d) {
      main.querySelector("#audit-verify").innerHTML = verification(d.verification, d.path, d.total);
      main.querySelector("#audit-rows").innerHTML = d.entries.map((e) => `<tr>
        <td class="num">${esc(e.seq)}</td><td>${timestamp(e.time)}</td><td>${esc(e.actor)}</td>
        <td>${esc(e.action)}</td><td>${esc(e.reason)}</td><td>${details(e.details)}</td>
        <td><code title="${esc(e.hash)}">${esc(String(e.hash ?? "").slice(0, 12))}</code></td></tr>`).join("")
        || `<tr><td colspan="7">No entries yet.</td></tr>`;
    },
  };
}
