// The console's webhooks page: each endpoint of the sites' config with its
// state (delivering, failing, paused) and backlog, a Resume button for a
// paused one, and its delivery log (the last attempts) with a "Send again"
// button per attempt. Texts go in with textContent (ParleyConsole.h).
(function () {
  "use strict";
  const { h, api, request, handle, flash, main, when, whenEl, addView } = window.ParleyConsole;

  const outcomes = { delivered: "Delivered", failed: "Failed, will retry", gave_up: "Gave up" };

  // state says where an endpoint stands, in words and as a badge class.
  function state(ep) {
    if (ep.paused) return ["Paused", "paused", `Paused ${when(ep.pausedAt)}: every attempt failed for a day (since ${when(ep.failingSince)}). Nothing is sent until it is resumed; events keep waiting.`];
    if (ep.failingSince) return ["Failing", "failing", `Failing since ${when(ep.failingSince)}; retrying with backoff. Paused if it fails for a day.`];
    return ["Delivering", "active", ep.lastSuccessAt ? `Last delivery ${when(ep.lastSuccessAt)}.` : "Nothing delivered yet."];
  }

  function path(ep) { return "/admin/api/webhooks/" + encodeURIComponent(ep.site) + "/" + encodeURIComponent(ep.id); }

  async function resume(ep, after) {
    try {
      await request(path(ep) + "/resume", null, null, "POST");
      flash("");
      after();
    } catch (e) { handle(e); }
  }

  // card shows one endpoint; withLog links to its delivery log.
  function card(ep, withLog, reload) {
    const [label, cls, text] = state(ep);
    return h("article", { class: "card webhook", "data-endpoint": ep.site + "/" + ep.id },
      h("header", {}, h("h2", {}, `${ep.site} / ${ep.id}`), h("span", { class: "badge " + cls, "data-state": cls }, label)),
      h("p", { class: "url" }, ep.url, ep.allowPrivate ? h("span", { class: "muted" }, " (private addresses allowed)") : null),
      h("p", { class: "state-text" }, text),
      h("div", { class: "chips" }, ep.events.map(e => h("span", { class: "chip" }, e))),
      h("p", { class: "muted" }, `Waiting: ${ep.waiting.toLocaleString()}`, ep.dropped ? ` · Dropped (backlog full) since the start: ${ep.dropped.toLocaleString()}` : "",
        ep.lastFailureAt ? [" · Last failure ", whenEl(ep.lastFailureAt)] : ""),
      h("p", { class: "actions" },
        ep.paused ? h("button", { type: "button", class: "primary resume", onclick: () => resume(ep, reload) }, "Resume") : null,
        withLog ? h("a", { href: "#/webhooks/" + encodeURIComponent(ep.site) + "/" + encodeURIComponent(ep.id) }, "Delivery log") : null));
  }

  async function viewList() {
    main().replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const list = await api("/admin/api/webhooks");
      main().replaceChildren(h("h1", {}, "Webhooks"),
        h("p", { class: "muted" }, "Endpoints come from the sites' config (\"webhooks\"). Each delivery is signed (webhook-signature) and retried with backoff until it is taken."),
        list.items.length ? h("div", { class: "cards", id: "webhooks" }, list.items.map(ep => card(ep, true, viewList)))
          : h("p", { class: "muted" }, "No webhook endpoints: add them to a site in the config file."));
    } catch (e) { handle(e); }
  }

  async function sendAgain(ep, a, button) {
    button.disabled = true;
    try {
      await request(path(ep) + "/deliveries/" + encodeURIComponent(a.id) + "/resend", null, null, "POST");
      flash("");
      button.textContent = "Queued again";
      setTimeout(() => viewLog(ep.site, ep.id), 800);
    } catch (e) { button.disabled = false; handle(e); }
  }

  function row(ep, a) {
    const send = h("button", { type: "button", class: "resend" }, "Send again");
    send.addEventListener("click", () => sendAgain(ep, a, send));
    return h("tr", { "data-attempt": a.id, class: a.outcome },
      h("td", {}, whenEl(a.at)),
      h("td", {}, a.type, a.resent ? h("span", { class: "muted" }, " (sent again)") : null),
      h("td", {}, a.session ? h("a", { href: "#/sessions/" + encodeURIComponent(a.session) }, a.session.slice(-8)) : h("span", { class: "no" }, "—")),
      h("td", {}, String(a.attempt)),
      h("td", {}, h("span", { class: "badge " + (a.outcome === "delivered" ? "active" : "failing") }, outcomes[a.outcome] || a.outcome),
        a.nextAt ? h("span", { class: "muted" }, " next ", whenEl(a.nextAt)) : null),
      h("td", {}, a.status ? String(a.status) : "—", a.error ? h("div", { class: "muted err" }, a.error) : null),
      h("td", {}, a.tookMs + " ms"),
      h("td", {}, a.payload ? h("details", {}, h("summary", {}, "Payload"), h("pre", {}, JSON.stringify(a.payload, null, 2))) : null),
      h("td", {}, send));
  }

  async function viewLog(site, id) {
    main().replaceChildren(h("p", { class: "muted" }, "Loading…"));
    const ep0 = { site, id };
    try {
      const [ep, log] = await Promise.all([api(path(ep0)), api(path(ep0) + "/deliveries", { limit: 100 })]);
      const table = h("table", { class: "list", id: "deliveries" },
        h("caption", { class: "sr-only" }, "Last delivery attempts, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Event", "Session", "Attempt", "Outcome", "Answer", "Took", "Payload", "Action"].map(t => h("th", { scope: "col" }, t)))),
        h("tbody", {}, log.items.map(a => row(ep, a))));
      main().replaceChildren(
        h("a", { class: "back", href: "#/webhooks" }, "← Webhooks"),
        h("h1", {}, `Delivery log of ${site} / ${id}`),
        card(ep, false, () => viewLog(site, id)),
        h("h2", {}, "Last attempts, newest first"),
        log.items.length ? h("div", { class: "scroll" }, table) : h("p", { class: "muted" }, "No attempts yet."));
    } catch (e) { handle(e); }
  }

  addView("webhooks", "Webhooks", parts => parts.length >= 2 ? viewLog(parts[0], parts[1]) : viewList());
})();
