// Draws the dst run report from the JSON model embedded in the page. Only what lies inside
// the visible time window is drawn, and at most MAX_MSGS messages and MAX_OPS operations
// (evenly thinned, violation operations always kept), so long traces stay responsive.
"use strict";
window.addEventListener("error", (e) => {
  document.body.dataset.status = "error: " + e.message;
  const p = document.createElement("pre");
  p.textContent = "The report failed to draw: " + e.message;
  document.body.prepend(p);
});
(function () {
  const started = performance.now();
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_MSGS = 2500;
  const MAX_OPS = 3000;
  const MAX_NOTES = 800;
  const LANE = 34;
  const GUTTER = 150;
  const AXIS = 22;
  const ROW = 22;
  // Distinct from the crashed grey and the paused orange.
  const SIDE_COLORS = ["#7b2cbf", "#0096c7", "#c9184a", "#2d6a4f", "#3a0ca3", "#b5838d"];

  const data = JSON.parse(document.getElementById("dst-data").textContent);
  const meta = data.meta;
  const nodes = data.nodes;
  const msgs = data.msgs;
  const nMsgs = msgs.from.length;
  const ops = data.history || [];
  const END = Math.max(meta.end, 1);
  const app = document.getElementById("app");
  let view = { t0: 0, t1: END };
  let selected = -1;

  // ---------- helpers ----------
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(ns) {
    const a = Math.abs(ns);
    if (a >= 1e9) return (ns / 1e9).toFixed(3) + " s";
    if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e8 ? 0 : 2) + " ms";
    if (a >= 1e3) return (ns / 1e3).toFixed(1) + " µs";
    return ns + " ns";
  }
  function short(v) {
    if (v === null || v === undefined) return "nil";
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s.length > 40 ? s.slice(0, 37) + "…" : s;
  }
  function lowerBound(arr, x) {
    let lo = 0, hi = arr.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (arr[m] < x) lo = m + 1; else hi = m; }
    return lo;
  }

  // ---------- derived data ----------
  // Down (crashed) and paused intervals per node, from the lifecycle marks.
  const down = nodes.map(() => []);
  const paused = nodes.map(() => []);
  {
    const downSince = {}, pausedSince = {};
    for (const m of data.marks) {
      if (m.node === null || m.node === undefined) continue;
      if (m.kind === "crash") downSince[m.node] = m.t;
      if (m.kind === "restart" && downSince[m.node] !== undefined) { down[m.node].push([downSince[m.node], m.t]); delete downSince[m.node]; }
      if (m.kind === "pause") pausedSince[m.node] = m.t;
      if (m.kind === "resume" && pausedSince[m.node] !== undefined) { paused[m.node].push([pausedSince[m.node], m.t]); delete pausedSince[m.node]; }
    }
    for (const k in downSince) down[k].push([downSince[k], END]);
    for (const k in pausedSince) paused[k].push([pausedSince[k], END]);
  }
  // Messages are in send order; the longest flight bounds how far back a window must look.
  let maxFlight = 0;
  for (let i = 0; i < nMsgs; i++) maxFlight = Math.max(maxFlight, msgs.end[i] - msgs.sent[i]);
  // Each lane's clock curve is scaled to that node's own largest offset in the window.

  // History: rows per client process; operations named by their lines.
  const procs = [...new Set(ops.map((o) => o.p))].sort((a, b) => a - b);
  const procRow = new Map(procs.map((p, i) => [p, i]));
  // Which operations each violation points at, and in what role.
  const role = new Map(); // op index -> {cls, tag, why}
  const focus = []; // per violation: {t, from, to}
  {
    const byLine = new Map();
    ops.forEach((o, i) => { byLine.set(o.line, i); if (o.rline) byLine.set(o.rline, i); });
    for (const v of data.violations) {
      let lo = Infinity, hi = -Infinity, t = v.t, fault = null;
      for (const ref of v.ops || []) {
        const i = byLine.get(ref.line);
        if (i === undefined) continue;
        const o = ops[i];
        if (!role.has(i)) role.set(i, roleOf(ref.role, v.check));
        lo = Math.min(lo, o.t0); hi = Math.max(hi, o.t1 === null ? END : o.t1);
        if (ref.role === "at-fault") {
          if (t === null || t === undefined) t = o.t1 === null ? o.t0 : o.t1;
          const d = Math.max((o.t1 === null ? END : o.t1) - o.t0, 20e6);
          fault = [o.t0 - d, (o.t1 === null ? END : o.t1) + d / 2];
        }
      }
      if ((t === null || t === undefined) && lo !== Infinity) t = hi;
      // Zoom from the first operation involved to just after the one at fault.
      if (fault) { hi = fault[1]; lo = Math.min(lo, fault[0]); }
      focus.push({ t: t, from: lo, to: hi });
    }
  }
  function roleOf(r, check) {
    const n = r.split(" ")[1];
    if (r === "at-fault") return { cls: "principal", tag: "✖", why: "at fault in " + check };
    if (r === "blocked") return { cls: "blocked", tag: "?", why: "could not be placed next" };
    if (r.startsWith("order")) return { cls: "", tag: "#" + n, why: "step " + n + " of the longest valid order" };
    if (r === "survivor") return { cls: "", tag: "kept", why: "the write that survived instead" };
    if (r === "involved") return { cls: "", tag: "•", why: "involved in " + check };
    if (r.startsWith("cycle")) return { cls: "principal", tag: "↻" + n, why: "step " + n + " of the dependency cycle" };
    return { cls: "", tag: "•", why: r };
  }

  // ---------- static page parts ----------
  const head = el("div");
  const h1 = el("h1");
  h1.append(el("span", {}, meta.scenario + " · seed " + meta.seed + " "), el("span", { class: "badge " + meta.verdict, id: "verdict" }, meta.verdict.toUpperCase()));
  head.append(h1);
  if (meta.description) head.append(el("div", { class: "meta" }, meta.description));
  const facts = el("div", { class: "meta" });
  facts.innerHTML = "";
  const fact = (k, v) => { const s = el("span"); s.append(el("b", {}, k + " "), document.createTextNode(v + "   ")); facts.append(s); };
  fact("system", meta.system);
  fact("digest", meta.digest);
  fact("events", meta.events.toLocaleString("en"));
  fact("simulated", fmt(meta.end));
  fact("messages", meta.stats.sent.toLocaleString("en") + " sent, " + meta.stats.delivered.toLocaleString("en") + " delivered, " + (meta.stats.dropped_loss + meta.stats.dropped_cut + meta.stats.dropped_dead) + " dropped, " + meta.stats.duplicated + " duplicated");
  head.append(facts);
  const replay = el("div", { class: "replay" });
  const cmd = el("code", { id: "replay-command" }, meta.replay);
  const copy = el("button", {}, "copy");
  copy.onclick = () => { navigator.clipboard && navigator.clipboard.writeText(meta.replay); copy.textContent = "copied"; };
  replay.append(el("span", {}, "Replay:"), cmd, copy);
  head.append(replay);
  app.append(head);

  // Violations, explained.
  const vsec = el("section", { id: "violations" });
  if (data.violations.length === 0) {
    vsec.append(el("p", {}, meta.verdict === "unknown" ? "Verdict unknown: " + (meta.unknown || "") : "Every check held on this run."));
  }
  data.violations.forEach((v, k) => {
    const box = el("div", { class: "violation-box", id: "violation-" + k });
    const title = el("div");
    title.append(el("b", {}, "Violation: " + v.check + " "));
    const f = focus[k];
    if (f.t !== null && f.t !== undefined) {
      const b = el("button", { class: "jump" }, "jump to it (" + fmt(f.t) + ")");
      b.onclick = () => jumpTo(k, true);
      title.append(b);
    }
    box.append(title, el("div", { class: "words" }, words(v)), el("pre", {}, v.message));
    vsec.append(box);
  });
  app.append(el("h2", {}, "Verdict"), vsec);

  function words(v) {
    if (v.check === "linearizability") {
      const blocked = (v.ops || []).some((r) => r.role === "blocked");
      return "No order of these operations explains what the clients saw. The checker found the longest order that does: its last steps are outlined in blue in the client history below, numbered #N in that order. Then it got stuck: the operation outlined in red (marked ✖) completed before it could take effect anywhere in that order — compare what it returned with the state the blue steps left" + (blocked ? "; the ones outlined in orange (marked ?) could not go next either." : ".") + " In the text, P is the client process (c1 is the first client node) and [line N] is the operation's line in the client history, which `dst run ... --history FILE` writes.";
    }
    if (v.check === "serializability") {
      return "The committed transactions cannot be put in any serial order: the outlined transactions form a dependency cycle. Each step of the cycle is explained below; the red one is where it starts.";
    }
    if (v.check === "lost-write") {
      return "A write the store acknowledged is in no live server's final state, and no write that survived causally follows it: it was silently dropped, not overwritten. In the client history, the lost write is outlined in red (✖) and the write kept instead in blue (kept). In the diagram, follow the anti-entropy messages between the servers after the lost write was acknowledged.";
    }
    if (v.check === "resurrection") {
      return "A value that an acknowledged delete removed is live again at the end. The delete is outlined in red (✖) in the client history, the write it removed in blue.";
    }
    if (v.check === "bank-total") {
      return "An audit transaction read every account in one committed transaction and the balances do not add up to what the bank started with: some transfer was applied in part, or twice. The audit is outlined in red (✖) in the client history; look at the transfers that overlap it.";
    }
    if (v.check === "blocked-time") {
      return "Two-phase commit blocks: a participant that voted yes may neither commit nor abort on its own, because the coordinator may already have decided either way. It keeps its locks until it learns the outcome, and only the coordinator knows it. The grey band on n1's lane is the coordinator being down; the red line marks when the participant started waiting.";
    }
    if (v.ops && v.ops.length) return "The outlined operations in the history show it.";
    if (v.t !== null && v.t !== undefined) return "The red line in the diagram marks the trace event where it was detected.";
    return "This check looks at the final state of the run; the diagram shows how the run got there.";
  }

  // Controls.
  const controls = el("div", { class: "controls" });
  const from = el("input", { id: "from", type: "number", step: "any", title: "window start, ms" });
  const to = el("input", { id: "to", type: "number", step: "any", title: "window end, ms" });
  const btn = (label, fn, id) => { const b = el("button", id ? { id } : {}, label); b.onclick = fn; return b; };
  controls.append(
    el("span", {}, "window (ms)"), from, el("span", {}, "to"), to,
    btn("zoom in", () => zoom(0.5, 0.5)), btn("zoom out", () => zoom(2, 0.5)),
    btn("◀", () => pan(-0.25)), btn("▶", () => pan(0.25)), btn("whole run", () => setView(0, END)),
  );
  if (focus.some((f) => f.t !== null && f.t !== undefined)) controls.append(btn("jump to violation", () => jumpTo(focus.findIndex((f) => f.t !== null && f.t !== undefined), false), "jump-violation"));
  controls.append(el("span", { class: "hint" }, "scroll on a diagram to zoom, drag to pan, click an arrow or a bar for details"));
  from.onchange = to.onchange = () => {
    const a = parseFloat(from.value) * 1e6, b = parseFloat(to.value) * 1e6;
    if (isFinite(a) && isFinite(b) && b > a) setView(a, b);
  };
  app.append(el("h2", {}, "Space-time diagram"), controls);
  const legend = el("div", { class: "legend" });
  for (const [c, t] of [["l-del", "message delivered"], ["l-drop", "dropped (loss, cut link, dead node)"], ["l-dup", "duplicate copy"], ["l-part", "partition (its label lists the sides; a coloured stripe per side)"], ["l-down", "crashed"], ["l-pause", "paused"], ["l-clock", "wall-clock offset from true time (lower half of each lane, scaled to the range written under its name; drift is a slope, a bump a step)"]]) legend.append(el("span", { class: c }, t));
  const marks = el("div", { class: "legend marks" });
  marks.textContent = "marks: ✕ crash · ▶ restart · ◆ clock change · ■ disk fault · | pause/resume · grey dot: a node's own note (hover any mark or dot for what it says) · dashed vertical: partition / heal";
  app.append(legend, marks);
  const diagramPanel = el("div", { class: "panel", id: "diagram" });
  const st = sv("svg", { id: "spacetime" });
  diagramPanel.append(st);
  app.append(diagramPanel);
  const sampledNote = el("div", { class: "sampled", id: "sampled" });
  app.append(sampledNote);
  const inspector = el("div", { id: "inspector", class: "mono" });
  app.append(inspector);

  let hist = null;
  if (ops.length) {
    app.append(el("h2", {}, "Client history (" + ops.length.toLocaleString("en") + " operations)"));
    const hl = el("div", { class: "legend" });
    hl.innerHTML = "<span>green ok · red fail · yellow indeterminate (timed out) · outlined: the violation's operations</span>";
    app.append(hl);
    const hp = el("div", { class: "panel", id: "history" });
    hist = sv("svg", { id: "history-svg" });
    hp.append(hist);
    app.append(hp);
  }

  // Fault schedule.
  app.append(el("h2", {}, "Fault schedule"));
  if (data.faults.length === 0) app.append(el("p", {}, "No scheduled faults."));
  else {
    const tbl = el("table", { id: "faults" });
    const hr = el("tr");
    hr.append(el("th", {}, "at"), el("th", {}, "fault"));
    tbl.append(hr);
    for (const f of data.faults) {
      const tr = el("tr", { class: "clickable" });
      tr.append(el("td", { class: "mono" }, fmt(f.t)), el("td", { class: "mono" }, f.text));
      tr.onclick = () => { const span = Math.max((view.t1 - view.t0) / 4, 1e6); setView(f.t - span / 2, f.t + span / 2); };
      tbl.append(tr);
    }
    app.append(tbl);
  }
  if (meta.system_stats && Object.keys(meta.system_stats).length) {
    app.append(el("h2", {}, "System figures"), el("pre", {}, JSON.stringify(meta.system_stats, null, 1)));
  }

  // ---------- drawing ----------
  function width() { return Math.max(700, Math.min(app.clientWidth || 1200, 1600) - 2); }
  function xOf(t, W) { return GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * (W - GUTTER - 12); }
  function tOf(x, W) { return view.t0 + ((x - GUTTER) / (W - GUTTER - 12)) * (view.t1 - view.t0); }
  function laneY(i) { return AXIS + i * LANE + LANE / 2; }
  function clip(x, W) { return Math.max(GUTTER - 4, Math.min(W - 4, x)); }

  function ticks(g, W, height) {
    const span = view.t1 - view.t0;
    const raw = span / 8;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
    const axis = sv("g", { class: "axis" });
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t, W);
      axis.append(sv("line", { x1: x, x2: x, y1: AXIS - 4, y2: height }), sv("text", { x: x + 2, y: 12 }, fmt(t)));
    }
    g.append(axis);
  }

  function violationMarkers(svg, W, height) {
    focus.forEach((f, k) => {
      if (f.t === null || f.t === undefined || f.t < view.t0 || f.t > view.t1) return;
      const x = xOf(f.t, W);
      const g = sv("g", { class: "violation-marker-group" });
      g.append(sv("line", { class: "violation-marker", x1: x, x2: x, y1: AXIS - 6, y2: height }));
      g.append(sv("text", { class: "violation-label", x: x + 4, y: AXIS + 8 }, "✖ " + data.violations[k].check));
      svg.append(g);
    });
  }

  function drawDiagram() {
    const W = width();
    const H = AXIS + nodes.length * LANE + 8;
    st.setAttribute("width", W); st.setAttribute("height", H);
    st.replaceChildren();
    const servers = nodes.filter((n) => n.role === "server").length;
    const arrows = sv("defs");
    arrows.innerHTML = '<marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#4a6fa5"/></marker>' +
      '<marker id="arrow-dup" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#e76f51"/></marker>' +
      '<marker id="cross" viewBox="0 0 8 8" refX="4" refY="4" markerWidth="7" markerHeight="7"><path d="M0,0 L8,8 M8,0 L0,8" stroke="#d62828" stroke-width="1.6"/></marker>';
    arrows.append(clipRect("plot-st", W, H));
    st.append(arrows);
    ticks(st, W, H);
    // Partitions: a band over the servers' lanes and a stripe per side.
    for (const p of data.partitions) {
      if (p.to < view.t0 || p.from > view.t1) continue;
      const x0 = clip(xOf(p.from, W), W), x1 = clip(xOf(p.to, W), W);
      st.append(sv("rect", { class: "partition", x: x0, y: AXIS, width: Math.max(1, x1 - x0), height: servers * LANE }));
      const groups = [];
      p.sides.forEach((side, i) => { (groups[side] = groups[side] || []).push(nodes[i].name); });
      const label = p.topology + ": " + groups.filter(Boolean).map((g) => g.join(" ")).join(" | ");
      st.append(sv("text", { class: "partition-label", x: x0 + 3, y: AXIS + servers * LANE - 3 }, label));
      if (groups.filter(Boolean).length > 1) p.sides.forEach((side, i) => {
        st.append(sv("rect", { class: "side", x: x0, y: laneY(i) - LANE / 2 + 1, width: Math.max(1, x1 - x0), height: 4, fill: SIDE_COLORS[side % SIDE_COLORS.length] }));
      });
    }
    // Lanes, down and paused intervals, clock curves.
    nodes.forEach((n, i) => {
      const y = laneY(i);
      st.append(sv("line", { class: "lane", x1: GUTTER, x2: W - 4, y1: y, y2: y, "data-node": n.name }));
      for (const [a, b] of down[i]) if (b >= view.t0 && a <= view.t1) {
        const x0 = clip(xOf(a, W), W), x1 = clip(xOf(b, W), W);
        st.append(sv("rect", { class: "down", x: x0, y: y - 5, width: Math.max(1, x1 - x0), height: 10 }));
      }
      for (const [a, b] of paused[i]) if (b >= view.t0 && a <= view.t1) {
        const x0 = clip(xOf(a, W), W), x1 = clip(xOf(b, W), W);
        st.append(sv("rect", { class: "paused", x: x0, y: y - 7, width: Math.max(1, x1 - x0), height: 14 }));
      }
      const c = data.clocks[i];
      let sub = n.role;
      if (c) {
        // The samples inside the window, plus the value in force at its start.
        const pts = [];
        let before = null;
        for (const [t, o] of c) {
          if (t < view.t0) { before = o; continue; }
          if (t > view.t1) break;
          pts.push([t, o]);
        }
        if (before !== null) pts.unshift([view.t0, before]);
        if (pts.length) pts.push([view.t1, pts[pts.length - 1][1]]);
        let lo = Infinity, hi = -Infinity;
        for (const [, o] of pts) { lo = Math.min(lo, o); hi = Math.max(hi, o); }
        // Drawn in the lower half of the lane, from the window's lowest offset (bottom) to
        // its highest (top); the range is written under the node's name.
        if (pts.length) {
          const span = hi - lo;
          const yOf = (o) => span < 1000 ? y + LANE * 0.25 : y + LANE * 0.44 - ((o - lo) / span) * (LANE * 0.38);
          const line = pts.map(([t, o]) => xOf(t, W) + "," + yOf(o)).join(" ");
          const poly = sv("polyline", { class: "clock", points: line, "clip-path": "url(#plot-st)" });
          poly.append(sv("title", {}, n.name + " wall clock − true time, from " + fmtOff(lo) + " to " + fmtOff(hi) + " in this window"));
          st.append(poly);
        }
        if (pts.length) sub = "clock " + (lo === hi ? fmtOff(lo) : fmtOff(lo) + " … " + fmtOff(hi));
      }
      st.append(sv("text", { class: "lane-label", x: 8, y: y - 2 }, n.name));
      st.append(sv("text", { class: "lane-sub", x: 8, y: y + 11, id: "clock-" + i }, sub));
    });
    // Messages: those in flight at some point of the window, thinned evenly past MAX_MSGS.
    const first = lowerBound(msgs.sent, view.t0 - maxFlight);
    const last = lowerBound(msgs.sent, view.t1 + 1);
    const visible = [];
    for (let i = first; i < last; i++) if (msgs.end[i] >= view.t0) visible.push(i);
    const stride = Math.max(1, Math.ceil(visible.length / MAX_MSGS));
    const g = sv("g", { id: "messages", "clip-path": "url(#plot-st)" });
    let drawn = 0;
    for (let k = 0; k < visible.length; k += stride) {
      const i = visible[k];
      const st_ = msgs.st[i];
      const cls = "msg" + (st_ === 0 ? "" : st_ === 4 ? " inflight" : " drop") + (msgs.dup[i] ? " dup" : "") + (i === selected ? " sel" : "");
      const y1 = laneY(msgs.from[i]), y2 = laneY(msgs.to[i]);
      const attrs = { class: cls, x1: xOf(msgs.sent[i], W), y1: y1, x2: xOf(msgs.end[i], W), y2: st_ === 0 ? y2 : y1 + (y2 - y1) * 0.85, "data-i": i };
      if (st_ === 0) attrs["marker-end"] = msgs.dup[i] ? "url(#arrow-dup)" : "url(#arrow)";
      else if (st_ !== 4) attrs["marker-end"] = "url(#cross)";
      g.append(sv("line", attrs));
      drawn++;
    }
    st.append(g);
    // Lifecycle, clock, disk-fault and network marks.
    for (const m of data.marks) {
      if (m.t < view.t0 || m.t > view.t1) continue;
      const x = xOf(m.t, W);
      if (m.node === null || m.node === undefined) {
        st.append(sv("line", { class: "netline " + m.kind, x1: x, x2: x, y1: AXIS, y2: AXIS + servers * LANE }));
        continue;
      }
      const y = laneY(m.node);
      let shape;
      if (m.kind === "crash") shape = sv("path", { class: "mark crash", d: `M${x - 5},${y - 5} L${x + 5},${y + 5} M${x + 5},${y - 5} L${x - 5},${y + 5}` });
      else if (m.kind === "restart") shape = sv("path", { class: "mark restart", d: `M${x},${y - 6} L${x + 6},${y} L${x},${y + 6} z` });
      else if (m.kind === "clock") shape = sv("path", { class: "mark clock", d: `M${x},${y - 5} L${x + 5},${y} L${x},${y + 5} L${x - 5},${y} z` });
      else if (m.kind === "disk-fault") shape = sv("rect", { class: "mark disk-fault", x: x - 4, y: y - 4, width: 8, height: 8 });
      else shape = sv("rect", { class: "mark " + m.kind, x: x - 1.5, y: y - 8, width: 3, height: 16 });
      shape.append(sv("title", {}, m.kind + (m.text ? ": " + m.text : "") + " at " + fmt(m.t)));
      st.append(shape);
    }
    // Notes (a node's own annotations), thinned like messages.
    const ns = data.notes.filter((n) => n[0] >= view.t0 && n[0] <= view.t1);
    const nstride = Math.max(1, Math.ceil(ns.length / MAX_NOTES));
    for (let k = 0; k < ns.length; k += nstride) {
      const [t, node, text] = ns[k];
      if (node === null) continue;
      const c = sv("circle", { class: "note", cx: xOf(t, W), cy: laneY(node) + 9, r: 2.2 });
      c.append(sv("title", {}, nodes[node].name + " at " + fmt(t) + ": " + text));
      st.append(c);
    }
    violationMarkers(st, W, H);
    sampledNote.textContent = stride > 1 ? "Showing " + drawn.toLocaleString("en") + " of " + visible.length.toLocaleString("en") + " messages in this window (every " + stride + "th); zoom in to see them all." : "";
    return drawn;
  }
  // Clips what crosses the window's edges to the plot area, off the lane labels.
  function clipRect(id, W, H) {
    const c = sv("clipPath", { id: id });
    c.append(sv("rect", { x: GUTTER, y: 0, width: W - GUTTER - 4, height: H }));
    return c;
  }
  function fmtOff(o) { return (o >= 0 ? "+" : "−") + fmt(Math.abs(o)); }

  function drawHistory() {
    if (!hist) return 0;
    const W = width();
    const H = AXIS + procs.length * ROW + 8;
    hist.setAttribute("width", W); hist.setAttribute("height", H);
    hist.replaceChildren();
    ticks(hist, W, H);
    procs.forEach((p, r) => {
      hist.append(sv("text", { class: "lane-label", x: 8, y: AXIS + r * ROW + 17 }, procName(p)));
    });
    const vis = [];
    const special = [];
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i];
      const t1 = o.t1 === null ? END : o.t1;
      if (t1 < view.t0 || o.t0 > view.t1) continue;
      if (role.has(i)) special.push(i); else vis.push(i);
    }
    const stride = Math.max(1, Math.ceil(vis.length / MAX_OPS));
    const defs = sv("defs");
    defs.append(clipRect("plot-hist", W, H));
    hist.append(defs);
    const g = sv("g", { id: "ops", "clip-path": "url(#plot-hist)" });
    let drawn = 0;
    const drawOp = (i) => {
      const o = ops[i];
      const t1 = o.t1 === null ? END : o.t1;
      const x0 = clip(xOf(o.t0, W), W), x1 = clip(xOf(t1, W), W);
      const y = AXIS + procRow.get(o.p) * ROW + 8;
      let cls = "op " + o.type;
      const r = role.get(i);
      if (r) cls += " witness" + (r.cls ? " " + r.cls : "");
      const rect = sv("rect", { class: cls, x: x0, y: y, width: Math.max(2, x1 - x0), height: ROW - 10, "data-op": i, "data-line": o.line });
      rect.append(sv("title", {}, describe(o) + (r ? " — " + r.why : "")));
      g.append(rect);
      if (x1 - x0 > 60) g.append(sv("text", { class: "op-label", x: x0 + 3, y: y + 10 }, label(o)));
      if (r) g.append(sv("text", { class: "order" + (r.cls ? " " + r.cls : ""), x: x0 + 1, y: y - 1 }, r.tag));
      drawn++;
    };
    for (let k = 0; k < vis.length; k += stride) drawOp(vis[k]);
    for (const i of special) drawOp(i);
    hist.append(g);
    violationMarkers(hist, W, H);
    return drawn;
  }
  // History processes are node indices: P5 is the node listed sixth (c1 after 5 servers).
  function procName(p) { return nodes[p] ? nodes[p].name + " (P" + p + ")" : "P" + p; }
  function label(o) {
    let s = o.f + (o.key !== null && o.key !== undefined ? " " + short(o.key) : "");
    if (o.in !== null && o.in !== undefined) s += " " + short(o.in);
    if (o.type === "ok" && o.out !== null && JSON.stringify(o.out) !== JSON.stringify(o.in)) s += " → " + short(o.out);
    return s;
  }
  function describe(o) {
    return procName(o.p) + " " + label(o) + " [" + o.type + "] from " + fmt(o.t0) + (o.t1 === null ? " (never completed)" : " to " + fmt(o.t1)) + ", history line " + o.line;
  }

  // ---------- interaction ----------
  function render() {
    from.value = (view.t0 / 1e6).toFixed(3);
    to.value = (view.t1 / 1e6).toFixed(3);
    const arrows = drawDiagram();
    const drawnOps = drawHistory();
    document.body.dataset.arrows = arrows;
    document.body.dataset.ops = drawnOps;
  }
  function setView(a, b) {
    const span = Math.max(b - a, 1000);
    a = Math.max(0, Math.min(a, END - span));
    view = { t0: a, t1: Math.min(END, a + span) };
    render();
  }
  function zoom(factor, at) {
    const span = view.t1 - view.t0;
    const c = view.t0 + span * at;
    setView(c - span * factor * at, c + span * factor * (1 - at));
  }
  function pan(frac) {
    const span = view.t1 - view.t0;
    setView(view.t0 + span * frac, view.t1 + span * frac);
  }
  function jumpTo(k, scroll) {
    const f = focus[k];
    let a = f.from, b = f.to;
    if (!(a < b)) { a = f.t - 50e6; b = f.t + 50e6; }
    const pad = (b - a) * 0.15 + 1e6;
    setView(a - pad, b + pad);
    if (scroll) document.getElementById("diagram").scrollIntoView({ block: "center" });
  }
  for (const svg of [st, hist]) {
    if (!svg) continue;
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const W = width();
      const at = Math.max(0, Math.min(1, (tOf(e.offsetX, W) - view.t0) / (view.t1 - view.t0)));
      zoom(e.deltaY < 0 ? 0.8 : 1.25, at);
    }, { passive: false });
    let drag = null;
    svg.addEventListener("mousedown", (e) => { drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false }; });
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved) return;
      const dt = (dx / (width() - GUTTER - 12)) * (drag.t1 - drag.t0);
      setView(drag.t0 - dt, drag.t1 - dt);
    });
    window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
    svg.addEventListener("click", (e) => {
      if (drag && drag.moved) return;
      const t = e.target;
      if (t.dataset && t.dataset.i !== undefined) {
        const i = +t.dataset.i;
        selected = i;
        const stName = ["delivered", "lost", "dropped at a cut link", "dropped: destination down", "still in flight at the end"][msgs.st[i]];
        inspector.textContent = msgs.kinds[msgs.kind[i]] + "  " + nodes[msgs.from[i]].name + " → " + nodes[msgs.to[i]].name + "  sent " + fmt(msgs.sent[i]) + ", " + stName + " at " + fmt(msgs.end[i]) + (msgs.dup[i] ? " (a duplicate copy)" : "");
        render();
      } else if (t.dataset && t.dataset.op !== undefined) {
        inspector.textContent = describe(ops[+t.dataset.op]);
      }
    });
  }
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "+" || e.key === "=") zoom(0.5, 0.5);
    else if (e.key === "-") zoom(2, 0.5);
    else if (e.key === "ArrowLeft") pan(-0.25);
    else if (e.key === "ArrowRight") pan(0.25);
  });
  window.addEventListener("resize", render);

  // `#violation` in the address opens the page zoomed on the first violation;
  // `#window=A,B` (milliseconds) on that window.
  const firstFocus = focus.findIndex((f) => f.t !== null && f.t !== undefined);
  const win = /^#window=([\d.]+),([\d.]+)$/.exec(location.hash);
  if (location.hash === "#violation" && firstFocus >= 0) jumpTo(firstFocus);
  else if (win) setView(parseFloat(win[1]) * 1e6, parseFloat(win[2]) * 1e6);
  else render();
  document.body.dataset.lanes = nodes.length;
  document.body.dataset.witness = role.size;
  document.body.dataset.renderMs = Math.round(performance.now() - started);
  document.body.dataset.status = "rendered";
})();
