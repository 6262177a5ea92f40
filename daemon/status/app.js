// mptcpkit daemon status page: one EventSource on /api/events; every event
// is a full StatusView (see daemon/status.go). No external code.
"use strict";
const HISTORY = 60;
const history = new Map(); // subflow key -> [{out, in}]
let updates = 0;

function mbit(bps) { return (bps / 1e6).toFixed(1) + " Mbit/s"; }
function ms(us) { return (us / 1e3).toFixed(1) + " ms"; }
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
}
function fill(id, rows) {
  const tb = document.querySelector("#" + id + " tbody");
  tb.replaceChildren(...rows);
  if (rows.length === 0) {
    const cols = document.querySelectorAll("#" + id + " th").length;
    tb.append(el("tr", {}, el("td", { class: "empty", colSpan: cols, textContent: "none" })));
  }
}

function render(v) {
  updates++;
  document.getElementById("updates").textContent = updates;
  document.getElementById("meta").textContent =
    `pid ${v.pid} · ${v.mode} path manager · ${v.netns} · policy ${v.policy}` + (v.last_error ? ` · last error: ${v.last_error}` : "");

  fill("paths", v.quality.paths.map(p => el("tr", { "data-path": p.address },
    el("td", { textContent: p.address }), el("td", { textContent: p.link || "" }),
    el("td", { textContent: p.subflows }), el("td", { textContent: ms(p.rtt_us) }),
    el("td", { textContent: p.loss_percent.toFixed(1) + " %" }),
    el("td", { textContent: mbit(p.tx_bps) }), el("td", { textContent: mbit(p.rx_bps) }),
    el("td", { class: p.backup ? "backup" : "active", textContent: p.backup ? "backup: " + p.why : "active" }))));

  fill("endpoints", v.kernel.map(k => el("tr", {},
    el("td", { textContent: k.id }), el("td", { textContent: k.address }),
    el("td", { textContent: k.flags }), el("td", { textContent: k.ours ? "ours" : "foreign" }))));

  fill("addresses", v.addresses.map(a => el("tr", {},
    el("td", { class: a.in ? "active" : "", textContent: a.in ? "in" : "out" }),
    el("td", { textContent: a.address }), el("td", { textContent: a.link }),
    el("td", { class: "why", textContent: a.reason }))));

  const seen = new Set();
  for (const s of v.quality.subflows) {
    const key = s.local + " → " + s.remote;
    seen.add(key);
    let h = history.get(key);
    if (!h) { h = []; history.set(key, h); }
    h.push({ out: s.tx_bps, in: s.rx_bps, backup: s.backup });
    if (h.length > HISTORY) h.shift();
  }
  for (const k of [...history.keys()]) if (!seen.has(k)) history.delete(k);
  drawGraphs();
}

function drawGraphs() {
  const box = document.getElementById("graphs");
  const keys = [...history.keys()].sort();
  if (keys.length === 0) { box.replaceChildren(el("p", { class: "empty", textContent: "no MPTCP subflows right now" })); return; }
  box.replaceChildren(...keys.map(key => {
    const h = history.get(key);
    const max = Math.max(1e6, ...h.map(p => Math.max(p.out, p.in)));
    const W = 300, H = 80;
    const pts = f => h.map((p, i) => `${(i * W / (HISTORY - 1)).toFixed(1)},${(H - 2 - f(p) / max * (H - 6)).toFixed(1)}`).join(" ");
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("data-subflow", key);
    svg.setAttribute("data-points", h.length);
    const last = h[h.length - 1];
    svg.setAttribute("data-last", Math.round(last.out + last.in));
    for (const y of [H / 4, H / 2, 3 * H / 4]) {
      const g = document.createElementNS(ns, "line");
      g.setAttribute("class", "grid"); g.setAttribute("x1", 0); g.setAttribute("x2", W); g.setAttribute("y1", y); g.setAttribute("y2", y);
      svg.append(g);
    }
    for (const [cls, f] of [["out", p => p.out], ["in", p => p.in]]) {
      const pl = document.createElementNS(ns, "polyline");
      pl.setAttribute("class", cls); pl.setAttribute("points", pts(f));
      svg.append(pl);
    }
    const title = el("div", { class: "title" },
      el("span", { textContent: key + (last.backup ? " (backup)" : "") }),
      el("span", { class: "legend" }, el("span", { class: "o", textContent: "out " + mbit(last.out) }), " · ",
        el("span", { class: "i", textContent: "in " + mbit(last.in) }), " · max " + mbit(max)));
    return el("div", { class: "graph" }, title, svg);
  }));
}

function connect() {
  const es = new EventSource("api/events");
  es.onopen = () => document.getElementById("dot").classList.add("on");
  es.onmessage = e => render(JSON.parse(e.data));
  es.onerror = () => document.getElementById("dot").classList.remove("on"); // EventSource retries by itself
}
connect();
