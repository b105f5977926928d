// Parley's console charts: a trend line and horizontal bars, drawn as SVG
// with DOM calls (no innerHTML, no inline style), so the console's strict
// Content-Security-Policy holds. Exposed as window.ParleyChart.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // niceMax rounds a maximum up to 2, 4, 6, 8 or 10 times a power of ten
  // (at least 2), so the middle tick is a whole number too.
  function niceMax(v) {
    if (v <= 2) return 2;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function fmt(n) { return Number(n).toLocaleString(); }

  // line draws points [{label, value}] as a trend line with its area, a
  // y axis of three ticks, a few x labels and a tooltip per point.
  function line(points, opts) {
    opts = opts || {};
    const W = 1000, H = 260, L = 52, R = 28, T = 12, B = 32;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart chart-line", role: "img",
      "aria-label": opts.label || "trend" });
    const max = niceMax(Math.max(0, ...points.map(p => p.value)));
    const n = points.length;
    const x = i => L + (n <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1));
    const y = v => T + (H - T - B) * (1 - v / max);
    for (const t of [0, max / 2, max]) {
      root.append(svg("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), class: "grid" }));
      root.append(svg("text", { x: L - 6, y: y(t) + 4, class: "axis", "text-anchor": "end" }, fmt(Math.round(t))));
    }
    if (n === 0) return root;
    const step = Math.max(1, Math.ceil(n / 6));
    points.forEach((p, i) => {
      if (i % step === 0 || i === n - 1) {
        const anchor = i === n - 1 && n > 1 ? "end" : i === 0 && n > 1 ? "start" : "middle";
        root.append(svg("text", { x: x(i), y: H - 10, class: "axis", "text-anchor": anchor }, p.label));
      }
    });
    const coords = points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    root.append(svg("path", { d: `M${x(0)},${y(0)} L${coords.join(" L")} L${x(n - 1)},${y(0)} Z`, class: "area" }));
    root.append(svg("polyline", { points: coords.join(" "), class: "line" }));
    points.forEach((p, i) => {
      const dot = svg("circle", { cx: x(i), cy: y(p.value), r: n > 60 ? 2 : 3.5, class: "dot" });
      dot.append(svg("title", {}, `${p.label}: ${fmt(p.value)}`));
      root.append(dot);
    });
    return root;
  }

  // bars draws items [{label, value}] as horizontal bars, largest scale
  // first, with the count at each bar's end.
  function bars(items, opts) {
    opts = opts || {};
    const W = 420, row = 26, L = 120, R = 56;
    const H = Math.max(1, items.length) * row + 4;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart chart-bars", role: "img",
      "aria-label": opts.label || "bars" });
    const max = Math.max(1, ...items.map(i => i.value));
    items.forEach((it, i) => {
      const y = 2 + i * row;
      const w = Math.max(it.value > 0 ? 2 : 0, (W - L - R) * it.value / max);
      const label = it.label.length > 18 ? it.label.slice(0, 17) + "…" : it.label;
      root.append(svg("text", { x: L - 8, y: y + 17, class: "axis", "text-anchor": "end" }, label));
      const bar = svg("rect", { x: L, y: y + 4, width: w.toFixed(1), height: row - 8, rx: 3, class: "bar" });
      bar.append(svg("title", {}, `${it.label}: ${fmt(it.value)}`));
      root.append(bar);
      root.append(svg("text", { x: L + w + 6, y: y + 17, class: "value" }, fmt(it.value)));
    });
    if (items.length === 0) root.append(svg("text", { x: 8, y: 18, class: "axis" }, "No data"));
    return root;
  }

  window.ParleyChart = { line, bars };
})();
