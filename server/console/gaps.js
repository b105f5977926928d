// The Knowledge gaps page: what visitors typed that no question asked for
// and the story could only answer with its fallback, grouped so that
// "pricing?" and "Pricing" are one row, the most asked first
// (GET /admin/api/gaps). The list a bot owner improves the story from.
(function () {
  "use strict";

  const C = window.ParleyConsole;
  const h = C.h;
  const filters = { preset: "30d", bot: "" };
  const PRESETS = [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["all", "All time"], ["custom", "Custom…"]];

  function params(f) {
    return Object.assign(C.period(f), { bot: f.bot, limit: 200 });
  }

  // sessionLinks links the sessions that asked, the latest first.
  function sessionLinks(g) {
    const links = g.sessionIds.map((id, i) =>
      h("a", { href: "#/sessions/" + encodeURIComponent(id), "aria-label": "Open session " + id }, "Session " + (i + 1)));
    const more = g.sessions - g.sessionIds.length;
    return h("span", { class: "links" }, links, more > 0 ? h("span", { class: "muted" }, `and ${more} more`) : null);
  }

  function row(g) {
    return h("tr", { "data-key": g.key },
      h("td", { "data-label": "Question" }, h("strong", {}, g.text),
        g.key !== g.text ? h("div", { class: "muted" }, "grouped as “" + g.key + "”") : null),
      h("td", { "data-label": "Asked", class: "count" }, String(g.count)),
      h("td", { "data-label": "Sessions", class: "count" }, String(g.sessions)),
      h("td", { "data-label": "First asked" }, C.whenEl(g.firstAt)),
      h("td", { "data-label": "Last asked" }, C.whenEl(g.lastAt)),
      h("td", { "data-label": "Asked in" }, sessionLinks(g)));
  }

  function summaryText(r) {
    if (r.texts === 0) return "No unanswered question in this period.";
    let s = `${r.texts.toLocaleString()} unanswered texts, ${r.groups.toLocaleString()} distinct questions`;
    if (r.items.length < r.groups) s += `; the ${r.items.length} most asked are shown (the CSV has up to 500)`;
    if (r.truncated) s += `. Only the newest texts were read, from ${C.when(r.since)} on.`;
    return s + ".";
  }

  function view() {
    const f = filters;
    const body = h("tbody", { id: "gaps-body" });
    const summary = h("p", { class: "muted", id: "gaps-summary", "aria-live": "polite" }, "Loading…");
    const table = h("table", { class: "list gaps", id: "gaps" },
      h("caption", { class: "sr-only" }, "Unanswered questions, the most asked first"),
      h("thead", {}, h("tr", {}, ["Question", "Asked", "Sessions", "First asked", "Last asked", "Asked in"].map(t => h("th", { scope: "col" }, t)))),
      body);
    const reload = () => render();
    const bot = h("input", { id: "gaps-bot", type: "text", value: f.bot, size: 10,
      onchange: e => { f.bot = e.target.value.trim(); reload(); } });
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      C.periodControls(f, PRESETS, reload),
      h("span", { class: "field" }, h("label", { for: "gaps-bot" }, "Bot"), bot),
      h("button", { type: "button", class: "secondary", onclick: () => C.download("/admin/api/gaps.csv", params(f), "gaps.csv") }, "Export CSV"));
    C.main().replaceChildren(h("h1", {}, "Knowledge gaps"),
      h("p", { class: "muted" }, "What visitors asked that no question took and only the story's fallback answered, grouped and counted. Add the answers to the story."),
      bar, summary, h("div", { class: "scroll" }, table));
    // Only the latest request may draw: a slow answer never overwrites a
    // newer one.
    let latest = 0;
    async function render() {
      const mine = ++latest;
      let r;
      try { r = await C.api("/admin/api/gaps", params(f)); } catch (e) { C.handle(e); summary.textContent = ""; return; }
      if (mine !== latest) return;
      body.replaceChildren(...r.items.map(row));
      summary.textContent = summaryText(r);
    }
    render();
  }

  C.addView("gaps", "Knowledge gaps", view);
})();
