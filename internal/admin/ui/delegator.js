// The dtab playground: edits a dtab, delegates a path through
// /delegator.json (the same code as `slinkerd delegate`) and draws the
// delegation tree step by step with the bound endpoints.
"use strict";

let baseDtab = "";

// pretty puts one dentry per line.
function pretty(dtab) {
  return dtab.split(";").map(d => d.trim()).filter(Boolean).map(d => d.replace(/\s*=>\s*/, " => ") + " ;").join("\n");
}

function boundHtml(b) {
  if (!b) return "";
  const addrs = (b.addresses || []).map(a => '<span class="addr">' + esc(a.addr) + (a.weight !== 1 ? " ×" + esc(a.weight) : "") + "</span>").join("");
  return '<div class="bound">' +
    '<span class="p">' + esc(b.id) + "</span>" + (b.residual ? ' <span class="dentry">residual ' + esc(b.residual) + "</span>" : "") +
    ' <span class="pill ' + (b.state === "bound" ? "ok" : b.state === "pending" ? "warn" : "bad") + '">' + esc(b.state) + "</span> " +
    (addrs || '<span class="dentry">no addresses</span>') + (b.error ? ' <span class="error">' + esc(b.error) + "</span>" : "") + "</div>";
}

const typeLabel = { delegate: "delegate", alt: "alt |", union: "union &", leaf: "leaf", neg: "neg ~", fail: "fail !", empty: "empty $", exception: "error" };

function nodeHtml(n) {
  if (!n) return "";
  let head = '<div class="node"><span class="type ' + esc(n.type) + '">' + esc(typeLabel[n.type] || n.type) + "</span>";
  if (n.weight) head += '<span class="w">' + esc(n.weight) + " ×</span>";
  if (n.path) head += '<span class="p">' + esc(n.path) + "</span>";
  if (n.dentry) head += '<span class="dentry">via #' + esc(n.dentry.index) + " <b>" + esc(n.dentry.prefix) + "</b> => " + esc(n.dentry.dst) + "</span>";
  if (n.message) head += '<span class="error">' + esc(n.message) + "</span>";
  if (n.bound) head += boundHtml(n.bound);
  head += "</div>";
  const kids = n.delegate ? [n.delegate] : n.alt || n.union || [];
  return "<li>" + head + (kids.length ? "<ul>" + kids.map(nodeHtml).join("") + "</ul>" : "") + "</li>";
}

function render(out) {
  const el = document.getElementById("result");
  const cls = out.result === "bound" ? "ok" : out.result === "error" || out.result === "fail" ? "bad" : "warn";
  let html = '<div class="result-head"><span class="path">' + esc(out.path) + '</span><span class="pill result ' + cls + '">' + esc(out.result) + "</span></div>";
  if (out.error) html += '<div class="error">' + esc(out.error) + "</div>";
  if (out.bound && out.bound.length) {
    html += "<h2>Bound</h2><ul class=\"bound-list\">" + out.bound.map(b =>
      '<li><span class="share">' + esc((b.share * 100).toFixed(b.share === 1 ? 0 : 1)) + "%</span>" + boundHtml(b) + "</li>").join("") + "</ul>";
  }
  if (out.tree) html += '<h2>Delegation</h2><ul class="tree">' + nodeHtml(out.tree) + "</ul>";
  el.innerHTML = html;
}

async function delegate(ev) {
  if (ev) ev.preventDefault();
  const path = document.getElementById("path").value.trim();
  const dtab = document.getElementById("dtab").value;
  const q = new URLSearchParams({ path: path, dtab: dtab });
  history.replaceState(null, "", "/delegator?" + new URLSearchParams({ path: path }).toString());
  try {
    const resp = await fetch("/delegator.json?" + q.toString(), { cache: "no-store" });
    render(await resp.json());
  } catch (err) {
    document.getElementById("result").innerHTML = '<div class="error">' + esc(err.message) + "</div>";
  }
}

async function init() {
  document.getElementById("form").addEventListener("submit", delegate);
  document.getElementById("reset").addEventListener("click", () => { document.getElementById("dtab").value = pretty(baseDtab); });
  const params = new URLSearchParams(location.search);
  if (params.get("path")) document.getElementById("path").value = params.get("path");
  try {
    const resp = await fetch("/delegator.json?path=/", { cache: "no-store" });
    baseDtab = (await resp.json()).dtab || "";
  } catch (err) {
    baseDtab = "";
  }
  const ta = document.getElementById("dtab");
  if (!ta.value) ta.value = pretty(baseDtab);
  document.body.dataset.ready = "true";
  if (params.get("path")) delegate();
}

document.addEventListener("DOMContentLoaded", init);
