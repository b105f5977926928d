// Parley console: the Funnel page. For one story (bot, optionally one
// version) over a period: the sessions opened and converted (a goal
// reached), every block with the sessions that reached it, its share of
// those opened and the drop-off from the block before; the goals; and the
// goal conversion of every bot version in the period.
(function () {
  "use strict";
  const P = window.ParleyConsole;
  const { h } = P;
  const pct = r => (r * 100).toLocaleString(undefined, { maximumFractionDigits: 1 }) + " %";
  const num = n => Number(n).toLocaleString();
  const filters = { preset: "30d", bot: "", version: "" };

  function params(f) {
    const p = P.period(f, true);
    p.bot = f.bot; p.version = f.version;
    return p;
  }

  function blocksTable(fn) {
    if (!fn.blocks.length) return h("p", { class: "muted" }, "No session of this story reached a block in this period.");
    return h("div", { class: "scroll" }, h("table", { class: "list funnel", id: "funnel-blocks" },
      h("caption", { class: "sr-only" }, "Blocks reached, most sessions first"),
      h("thead", {}, h("tr", {}, ["Block", "Sessions", "Of opened", "Drop-off from the block above"].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, fn.blocks.map(b => h("tr", { "data-block": b.block },
        h("th", { scope: "row", "data-label": "Block" }, b.block),
        h("td", { "data-label": "Sessions" }, num(b.sessions)),
        h("td", { "data-label": "Of opened" }, h("meter", { min: 0, max: 1, value: b.share, "aria-label": b.block + " of opened" }), " " + pct(b.share)),
        h("td", { "data-label": "Drop-off", class: b.dropOff > 0 ? "drop" : "" },
          b.dropOff > 0 ? `−${num(b.dropOff)} (${pct(b.dropOffRate)})` : "—"))))));
  }

  function versionsTable(fn) {
    return h("div", { class: "scroll" }, h("table", { class: "list", id: "funnel-versions" },
      h("caption", { class: "sr-only" }, "Goal conversion per bot version"),
      h("thead", {}, h("tr", {}, ["Bot", "Version", "Opened", "Reached a goal", "Conversion"].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, fn.versions.map(v => h("tr", { class: v.bot === fn.bot ? "current" : "" },
        h("td", { "data-label": "Bot" }, v.bot), h("td", { "data-label": "Version" }, v.version),
        h("td", { "data-label": "Opened" }, num(v.opened)), h("td", { "data-label": "Reached a goal" }, num(v.converted)),
        h("td", { "data-label": "Conversion" }, pct(v.conversionRate)))))));
  }

  async function viewFunnel() {
    const f = filters;
    let bots = [], versions = [];
    try {
      const u = await P.api("/admin/api/usage", { from: P.period({ preset: "365d" }, true).from });
      bots = u.bots.map(b => b.bot);
      versions = [...new Set(u.versions.map(v => v.version))];
    } catch (e) { P.handle(e); }
    if (!f.bot && bots.length) f.bot = bots[0];
    const out = h("div", { id: "funnel-report" });
    const reload = () => render();
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      // A year costs a few counters per day, as a week does (README, Funnel).
      P.periodControls(f, [["7d", "Last 7 days"], ["30d", "Last 30 days"], ["90d", "Last 90 days"], ["365d", "Last 365 days"], ["custom", "Custom…"]], reload),
      P.select(f, "bot", "Bot", bots.map(b => [b, b]), reload),
      P.select(f, "version", "Version", [["", "All"]].concat(versions.map(v => [v, v])), reload));
    P.main().replaceChildren(h("h1", {}, "Funnel"),
      h("p", { class: "muted" }, "Where a story's sessions went: the sessions started in the period that reached each block, and how many a goal."), bar, out);
    let latest = 0; // only the latest answer draws
    async function render() {
      const mine = ++latest;
      if (!f.bot) { out.replaceChildren(h("p", { class: "muted" }, "No bot has sessions yet.")); return; }
      let fn;
      try { fn = await P.api("/admin/api/funnel", params(f)); } catch (e) { P.handle(e); return; }
      if (mine !== latest) return;
      out.replaceChildren(
        h("div", { class: "grid2" },
          h("section", { class: "card total" }, h("h2", {}, "Sessions opened"), h("p", { class: "big", id: "funnel-opened" }, num(fn.opened)),
            h("p", { class: "muted" }, `${P.when(fn.from)} – ${P.when(fn.to)}`)),
          h("section", { class: "card total" }, h("h2", {}, "Goal conversion"), h("p", { class: "big", id: "funnel-conversion" }, pct(fn.conversionRate)),
            h("p", { class: "muted" }, `${num(fn.converted)} of ${num(fn.opened)} sessions reached a goal` +
              (fn.goals.length ? ": " + fn.goals.map(g => `${g.goal} ${num(g.sessions)}`).join(", ") : "")))),
        h("section", { class: "card wide" }, h("h2", {}, `Blocks of ${fn.bot}${fn.version ? " v" + fn.version : ""}`), blocksTable(fn)),
        h("section", { class: "card wide" }, h("h2", {}, "Goal conversion per bot version"), versionsTable(fn)));
    }
    render();
  }

  P.addView("funnel", "Funnel", viewFunnel);
})();
