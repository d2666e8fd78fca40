// The single page: hash routes, one page mounted at a time, live updates by polling.
//
// A page module exports `mount(main, params, ctx)` returning `{url(), update(data)}`:
// mount draws the static skeleton (controls keep their state), update redraws the data.
// Every POLL_MS the current page's JSON is fetched again and drawn only if it changed;
// polling pauses while the tab is hidden and resumes (at once) when it is shown again.

import * as sloList from "./slo-list.js";
import * as sloDetail from "./slo-detail.js";
import * as canaryList from "./canary-list.js";
import * as canaryDetail from "./canary-detail.js";
import * as audit from "./audit.js";
import { clock } from "./format.js";

const POLL_MS = 2000;
const ROUTES = [
  [/^#\/slos$/, sloList, "slos"],
  [/^#\/slo\/([^/]+)\/([^/]+)$/, sloDetail, "slos"],
  [/^#\/canaries$/, canaryList, "canaries"],
  [/^#\/canary\/([^/]+)\/([^/]+)\/([^/]+)$/, canaryDetail, "canaries"],
  [/^#\/audit$/, audit, "audit"],
];

const main = document.getElementById("view");
const live = document.getElementById("live");
let current = null;
let timer = null;
let ticket = 0;  // only the newest poll may draw or schedule the next one

function route() {
  const hash = location.hash || "#/slos";
  for (const [re, page, nav] of ROUTES) {
    const m = hash.match(re);
    if (m) return { page, nav, params: m.slice(1).map(decodeURIComponent) };
  }
  return { page: sloList, nav: "slos", params: [] };
}

// The engine's read token, when it has one: asked once, kept for this tab only.
const TOKEN_KEY = "sloengine-read-token";
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}
function askToken() {
  const token = window.prompt("This engine needs its read token to show its data:");
  if (!token) return false;
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  return true;
}

async function poll() {
  const mine = ++ticket;
  clearTimeout(timer);
  const page = current;
  if (document.hidden) return;  // a background tab costs the engine nothing; see below
  let response;
  let text;
  try {
    response = await fetch(page.url(), { cache: "no-store", headers: authHeaders() });
    if (response.status === 401 && askToken()) {
      response = await fetch(page.url(), { cache: "no-store", headers: authHeaders() });
    }
    text = await response.text();
  } catch (err) {
    if (mine !== ticket) return;
    live.textContent = `Engine unreachable (${err.message}); retrying`;
    timer = setTimeout(poll, POLL_MS);
    return;
  }
  if (mine !== ticket) return;
  // Schedule first: a drawing bug surfaces as a console error but does not stop updates.
  timer = setTimeout(poll, POLL_MS);
  if (!response.ok) {
    let message = text;
    try { message = JSON.parse(text).error || text; } catch { /* plain text error */ }
    live.textContent = `Error ${response.status}: ${message}`;
    page.fail?.(message);
    return;
  }
  if (text !== page.lastText) {
    page.lastText = text;
    page.update(JSON.parse(text));
  }
  live.textContent = `Live · updated ${clock(Date.now() / 1000)} UTC`;
}

function show() {
  const { page, nav, params } = route();
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  const ctx = { refresh: () => { if (current) current.lastText = null; poll(); } };
  current = page.mount(main, params, ctx);
  poll();
}

window.addEventListener("hashchange", show);
document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
if (!location.hash) history.replaceState(null, "", "#/slos");
show();
