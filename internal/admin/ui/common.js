// Shared helpers of the admin pages. No framework, no build step.
"use strict";

// esc escapes text for HTML.
function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// fmtNum formats a count or rate compactly.
function fmtNum(x, digits) {
  if (x == null || !isFinite(x)) return "–";
  if (digits == null) digits = x < 10 ? 1 : 0;
  if (x >= 1e6) return (x / 1e6).toFixed(1) + "M";
  if (x >= 1e4) return (x / 1e3).toFixed(1) + "k";
  return x.toFixed(digits);
}

// fmtMs formats milliseconds with a unit.
function fmtMs(ms) {
  if (ms == null || !isFinite(ms)) return "–";
  if (ms === 0) return "0 ms";
  if (ms < 1) return (ms * 1000).toFixed(0) + " µs";
  if (ms < 10) return ms.toFixed(2) + " ms";
  if (ms < 1000) return ms.toFixed(0) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function fmtPct(x) {
  if (x == null || !isFinite(x)) return "–";
  return (x * 100).toFixed(x >= 0.9995 || x === 0 ? 0 : x >= 0.99 ? 2 : 1) + "%";
}

function fmtBytes(b) {
  if (!b) return "–";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return b.toFixed(i ? 1 : 0) + " " + u[i];
}

function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + sec + "s";
  return sec + "s";
}

// sparkline returns SVG markup for values in a w×h viewBox.
function sparkline(values, w, h, color, fixedMax) {
  const n = values.length;
  if (n < 2) return "";
  let mx = fixedMax != null ? fixedMax : Math.max.apply(null, values);
  if (!(mx > 0)) mx = 1;
  const step = w / (n - 1);
  const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (h - 1 - (Math.min(v, mx) / mx) * (h - 3)).toFixed(1));
  const area = "0," + h + " " + pts.join(" ") + " " + w + "," + h;
  return '<polygon points="' + area + '" fill="' + color + '" fill-opacity="0.12"/>' +
    '<polyline points="' + pts.join(" ") + '" fill="none" stroke="' + color + '" stroke-width="1.5" vector-effect="non-scaling-stroke"/>';
}

function srClass(sr) {
  if (sr == null || !isFinite(sr)) return "";
  return sr >= 0.99 ? "ok" : sr >= 0.9 ? "warn" : "bad";
}

function stateClass(s) {
  return s === "alive" ? "ok" : s === "probing" ? "warn" : s === "dead" ? "bad" : "";
}
