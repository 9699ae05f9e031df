// The live dashboard: polls /admin/metrics.json and renders rates, success
// rates, latency quantiles, sparklines, retry budgets and endpoint tables.
"use strict";

const POLL_MS = 1000;
const HISTORY = 60; // points per sparkline

let prev = null;        // previous document
const hist = {};        // key -> {rps:[], sr:[], p99:[]}
const budgetMax = {};   // service -> largest balance seen, the bar's scale

function push(key, field, v) {
  const h = hist[key] || (hist[key] = { rps: [], sr: [], p99: [] });
  h[field].push(v);
  if (h[field].length > HISTORY) h[field].shift();
  return h[field];
}

// rates compares a stats object with its previous self.
function rates(cur, old, dt) {
  if (!old || dt <= 0) return { rps: null, sr: cur.requests ? cur.successes / cur.requests : null, retries: null, requeues: null, recent: false };
  const dr = cur.requests - old.requests;
  const ds = cur.successes - old.successes;
  return {
    rps: Math.max(dr, 0) / dt,
    // With no request in the interval, fall back to the lifetime rate.
    sr: dr > 0 ? ds / dr : cur.requests ? cur.successes / cur.requests : null,
    retries: Math.max(cur.retries - old.retries, 0) / dt,
    requeues: Math.max(cur.requeues - old.requeues, 0) / dt,
    recent: dr > 0,
  };
}

function byName(list, key) {
  const m = {};
  (list || []).forEach(x => { m[x[key]] = x; });
  return m;
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

function setSvg(id, markup) {
  const el = document.getElementById(id);
  if (el) el.innerHTML = markup;
}

function renderProcess(p) {
  setText("p-version", p.version);
  setText("p-uptime", fmtDuration(p.uptime_s));
  setText("p-rss", fmtBytes(p.rss_bytes));
  setText("p-goroutines", String(p.goroutines));
}

function renderSummary(doc, dt) {
  const r = rates(doc.server, prev && prev.server, dt);
  const lat = doc.server.latency_ms;
  document.getElementById("s-rps").innerHTML = esc(fmtNum(r.rps)) + "<small>rps</small>";
  setText("s-sr", fmtPct(r.sr));
  setText("s-p50", fmtMs(lat.p50));
  setText("s-p99", fmtMs(lat.p99));
  setText("s-pending", String(doc.server.pending));
  setText("s-conns", doc.server.open_connections == null ? "–" : String(doc.server.open_connections));
  if (r.rps != null) {
    setSvg("s-rps-chart", sparkline(push("server", "rps", r.rps), 120, 28, "#2f7de1"));
    setSvg("s-sr-chart", sparkline(push("server", "sr", r.sr == null ? 1 : r.sr), 120, 28, "#1f9d55", 1));
    setSvg("s-p99-chart", sparkline(push("server", "p99", lat.p99), 120, 28, "#d98b04"));
  }
}

function serviceCard(s, r) {
  const key = "svc:" + s.service;
  const h = hist[key] || { rps: [], sr: [], p99: [] };
  const lat = s.latency_ms;
  let budget = "";
  if (s.budget_balance != null) {
    const mx = budgetMax[s.service] = Math.max(budgetMax[s.service] || 0, s.budget_balance, 1);
    const frac = Math.max(0, Math.min(1, s.budget_balance / mx));
    const color = frac > 0.5 ? "#1f9d55" : frac > 0.15 ? "#d98b04" : "#d64545";
    budget = '<div class="budget"><div class="label"><span>Retry budget</span><span class="budget-value">' +
      esc(s.budget_balance) + " left" + (s.budget_exhausted ? " · " + esc(s.budget_exhausted) + " refused" : "") + "</span></div>" +
      '<svg viewBox="0 0 100 10" preserveAspectRatio="none"><rect x="0" y="0" width="100" height="10" rx="3" fill="#edf1f6"/>' +
      '<rect x="0" y="0" width="' + (frac * 100).toFixed(1) + '" height="10" rx="3" fill="' + color + '"/></svg></div>';
  }
  const stat = (label, value, cls) => '<div class="stat"><div class="label">' + label + '</div><div class="value ' + (cls || "") + '">' + value + "</div></div>";
  return '<div class="card service" data-service="' + esc(s.service) + '">' +
    '<div class="svc-head"><span class="name">' + esc(s.service) + '</span>' +
    '<span class="pill sr ' + srClass(r.sr) + '" title="success rate">' + esc(fmtPct(r.sr)) + "</span></div>" +
    '<div class="stats">' +
    stat("req/s", esc(fmtNum(r.rps)), "rps") +
    stat("requests", esc(fmtNum(s.requests, 0)), "requests") +
    stat("failures", esc(fmtNum(s.failures, 0)), "failures") +
    stat("retries/s", esc(fmtNum(r.retries)), "retries") +
    stat("requeues/s", esc(fmtNum(r.requeues)), "requeues") +
    stat("p50", esc(fmtMs(lat.p50)), "p50") +
    stat("p90", esc(fmtMs(lat.p90)), "p90") +
    stat("p99", esc(fmtMs(lat.p99)), "p99") +
    stat("p99.9", esc(fmtMs(lat.p999)), "p999") +
    stat("max", esc(fmtMs(lat.max)), "max") +
    "</div>" +
    '<div class="charts">' +
    '<div class="chart"><div class="label"><span>req/s</span></div><svg viewBox="0 0 120 38" preserveAspectRatio="none">' + sparkline(h.rps, 120, 38, "#2f7de1") + "</svg></div>" +
    '<div class="chart"><div class="label"><span>success</span></div><svg viewBox="0 0 120 38" preserveAspectRatio="none">' + sparkline(h.sr, 120, 38, "#1f9d55", 1) + "</svg></div>" +
    '<div class="chart"><div class="label"><span>p99</span></div><svg viewBox="0 0 120 38" preserveAspectRatio="none">' + sparkline(h.p99, 120, 38, "#d98b04") + "</svg></div>" +
    "</div>" + budget + "</div>";
}

function renderServices(doc, dt) {
  const old = byName(prev && prev.services, "service");
  const el = document.getElementById("services");
  setText("svc-count", doc.services.length ? String(doc.services.length) : "");
  if (!doc.services.length) {
    el.innerHTML = '<div class="card empty">No requests yet.</div>';
    return;
  }
  el.innerHTML = doc.services.map(s => {
    const r = rates(s, old[s.service], dt);
    if (r.rps != null) {
      const key = "svc:" + s.service;
      push(key, "rps", r.rps);
      push(key, "sr", r.sr == null ? 1 : r.sr);
      push(key, "p99", s.latency_ms.p99);
    }
    return serviceCard(s, r);
  }).join("");
}

function endpointRow(e, old, dt) {
  const r = rates(e, old, dt);
  const state = e.state || (e.live ? "" : "gone");
  return '<tr data-endpoint="' + esc(e.address) + '">' +
    '<td class="mono">' + esc(e.address) + "</td>" +
    '<td><span class="pill state ' + stateClass(state) + '">' + esc(state || "–") + "</span></td>" +
    '<td class="num">' + esc(e.live ? fmtNum(e.weight, 2) : "–") + "</td>" +
    '<td class="num pending">' + esc(e.live ? String(e.pending) : "–") + "</td>" +
    '<td class="num ewma">' + esc(e.live ? fmtMs(e.ewma_ms) : "–") + "</td>" +
    '<td class="num load">' + esc(e.live ? fmtNum(e.load >= 1e5 ? e.load / 1e6 : e.load, 2) + (e.load >= 1e5 ? "M" : "") : "–") + "</td>" +
    '<td class="num">' + esc(fmtNum(r.rps)) + "</td>" +
    '<td class="num">' + esc(fmtPct(r.sr)) + "</td>" +
    '<td class="num">' + esc(fmtMs(e.latency_ms.p99)) + "</td>" +
    '<td class="num">' + esc(e.live ? String(e.consecutive_failures) : "–") + "</td></tr>";
}

// crossZone renders a zone-aware client's cross-zone share: of the
// requests since the last poll when there were some, else of all.
function crossZone(c, oc) {
  if (!c.zone) return "";
  let cross = c.zone.cross_zone, all = c.zone.requests;
  if (oc && oc.zone && all - oc.zone.requests > 0) {
    cross -= oc.zone.cross_zone;
    all -= oc.zone.requests;
  }
  return '<span title="requests to endpoints outside this zone">cross-zone <b>' + esc(all > 0 ? fmtPct(cross / all) : "–") + "</b></span>";
}

function renderClients(doc, dt) {
  const old = byName(prev && prev.clients, "client");
  const el = document.getElementById("clients");
  setText("client-count", doc.clients.length ? String(doc.clients.length) : "");
  if (!doc.clients.length) {
    el.innerHTML = '<div class="card empty">No clients yet.</div>';
    return;
  }
  el.innerHTML = doc.clients.map(c => {
    const oc = old[c.client];
    const r = rates(c, oc, dt);
    const oldEps = byName(oc && oc.endpoints, "address");
    const states = Object.keys(c.states || {}).sort().map(k => '<span class="pill ' + stateClass(k) + '">' + esc(c.states[k]) + " " + esc(k) + "</span>").join(" ");
    return '<div class="card client" data-client="' + esc(c.client) + '">' +
      '<div class="client-head"><span class="name">' + esc(c.client) + "</span>" +
      (c.addr_state ? '<span class="meta">' + esc(c.addr_state) + "</span>" : "") + states +
      '<span class="right"><span>req/s <b>' + esc(fmtNum(r.rps)) + "</b></span><span>success <b>" + esc(fmtPct(r.sr)) +
      "</b></span><span>pending <b>" + esc(c.pending) + "</b></span>" + crossZone(c, oc) + "<span>p99 <b>" + esc(fmtMs(c.latency_ms.p99)) + "</b></span></span></div>" +
      "<table><thead><tr><th>Endpoint</th><th>State</th><th class=num>Weight</th><th class=num>Pending</th><th class=num>EWMA</th>" +
      "<th class=num>Load</th><th class=num>req/s</th><th class=num>Success</th><th class=num>p99</th><th class=num>Fails in a row</th></tr></thead><tbody>" +
      (c.endpoints.length ? c.endpoints.map(e => endpointRow(e, oldEps[e.address], dt)).join("") : '<tr><td colspan="10" class="empty">no endpoints</td></tr>') +
      "</tbody></table>" +
      (c.omitted ? '<div class="hint">' + esc(c.omitted) + " more endpoints folded into \u201cother\u201d (SLINKERD_METRICS_MAX_ENDPOINTS=" + esc(doc.max_endpoints) + ")</div>" : "") +
      "</div>";
  }).join("");
}

// The dtab source's version in force (SLINKERD_DTAB_SOURCE), read from
// /config.json every DTAB_EVERY polls: which routing this instance runs.
const DTAB_EVERY = 5;
let dtabPolls = 0;

async function pollDtabSource() {
  if (dtabPolls++ % DTAB_EVERY !== 0) return;
  try {
    const resp = await fetch("/config.json", { cache: "no-store" });
    if (!resp.ok) return;
    const cfg = await resp.json();
    const ds = cfg.dtabSource;
    const el = document.getElementById("p-dtab");
    if (!ds || !el) return;
    el.hidden = false;
    setText("p-dtab-version", ds.version || "none yet");
    el.title = ds.source + (ds.lastError ? " · last error: " + ds.lastError : "") + (ds.rejected ? " · rejected: " + ds.rejected : "");
  } catch (err) {
    // The metrics poll reports an unreachable admin server.
  }
}

async function poll() {
  const status = document.getElementById("status");
  pollDtabSource();
  try {
    const resp = await fetch("/admin/metrics.json", { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const doc = await resp.json();
    const dt = prev ? (Date.parse(doc.time) - Date.parse(prev.time)) / 1000 : 0;
    renderProcess(doc.process);
    renderSummary(doc, dt);
    renderServices(doc, dt);
    renderClients(doc, dt);
    prev = doc;
    status.className = "status";
    status.textContent = "live · updated " + new Date(doc.time).toLocaleTimeString() + " · latency quantiles over the last " + doc.window_s + "–" + 2 * doc.window_s + " s";
  } catch (err) {
    status.className = "status err";
    status.textContent = "cannot read /admin/metrics.json: " + err.message;
  }
  setTimeout(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", poll);
