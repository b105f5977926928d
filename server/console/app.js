// Parley's admin console: a small single-page app over the admin API.
// The admin token lives in sessionStorage (this tab only) and travels as an
// Authorization: Bearer header, never in a URL; an agent signs in once per
// browser and is known by an HttpOnly cookie the page never sees. Views are built with DOM
// calls and textContent, so nothing a visitor typed can become markup.
(function () {
  "use strict";

  const TOKEN_KEY = "parley.adminToken";
  // AGENT_KEY says this browser has an agent's sign-in (the cookie itself
  // is HttpOnly), so a page load without one does not count as a failed
  // sign-in.
  const AGENT_KEY = "parley.agentSignedIn";
  const $ = sel => document.querySelector(sel);
  const main = () => $("#main");

  // ---- DOM helpers ----

  // h builds an element: h("a", {href: "#"}, "text", child, ...). Attributes
  // starting with "on" become listeners; false, null and undefined are left out.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function when(iso) {
    if (!iso) return "No";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function whenEl(iso) {
    return iso ? h("time", { datetime: iso, title: iso }, when(iso)) : h("span", { class: "no" }, "No");
  }

  function size(n) {
    if (n < 1024) return n + " B";
    if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
    return (n / (1 << 20)).toFixed(1) + " MB";
  }

  function duration(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function deviceText(d) {
    const parts = [d.os, d.browser].filter(Boolean);
    return (parts.join(" · ") || "Unknown") + (d.mobile ? " (mobile)" : "");
  }

  // sentimentChip shows a tone (positive, neutral, negative, unknown) as
  // an icon and a word, never by colour alone; null for none.
  const SENTIMENT_ICONS = { positive: "☺", neutral: "○", negative: "☹", unknown: "?" };
  function sentimentChip(name, title) {
    if (!name) return null;
    return h("span", { class: "chip sentiment " + name, title: title || "Sentiment: " + name }, (SENTIMENT_ICONS[name] || "") + " " + name);
  }

  // unansweredChip counts a session's texts only the fallback answered.
  function unansweredChip(n) {
    return n ? h("span", { class: "chip unanswered", title: "Texts only the fallback answered" }, `⁇ ${n} unanswered`) : null;
  }

  function flash(msg) {
    const el = $("#flash");
    el.textContent = msg || "";
    el.hidden = !msg;
  }

  // ---- API ----

  class AuthError extends Error {}

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== "" && v !== null && v !== undefined && v !== false) q.set(k, v === true ? "1" : v);
    }
    const s = q.toString();
    return s ? "?" + s : "";
  }

  async function request(path, params, tok, method, body) {
    const t = tok || token();
    const opts = { method: method || "GET", headers: t ? { Authorization: "Bearer " + t } : {},
      cache: "no-store", credentials: "same-origin", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path + query(params), opts);
    if (resp.status === 401) throw new AuthError("The sign-in was not accepted.");
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try { msg = (await resp.json()).message || msg; } catch (e) { /* not JSON */ }
      if (resp.status === 429) msg = "Too many failed sign-ins from this address; wait a minute and try again.";
      throw new Error(msg);
    }
    return resp;
  }

  async function api(path, params) { return (await request(path, params)).json(); }

  // download fetches a file with the token and saves it under the name
  // the server gives, through a temporary object URL.
  async function download(path, params, fallback) {
    try {
      const resp = await request(path, params);
      const blob = await resp.blob();
      const m = /filename="?([^";]+)"?/.exec(resp.headers.get("Content-Disposition") || "");
      const a = h("a", { href: URL.createObjectURL(blob), download: m ? m[1] : fallback, class: "hidden" });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      handle(e);
    }
  }

  function handle(e) {
    if (e instanceof AuthError) {
      signOut("Your sign-in has expired or the token changed: please sign in again.");
      return;
    }
    flash(e.message);
  }

  // ---- sign-in ----

  // who is the signed-in admin or agent ({role, name, displayName}).
  let who = null;

  function signOut(msg, tellServer) {
    if (tellServer) fetch("/admin/api/signout", { method: "POST", credentials: "same-origin" }).catch(() => {});
    who = null;
    document.dispatchEvent(new Event("parley:signedout"));
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(AGENT_KEY);
    $("#app").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = msg || "";
    $("#token").value = "";
    $("#token").focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const name = $("#agent-name").value.trim();
    const tok = $("#token").value.trim();
    $("#login-error").textContent = "";
    try {
      if (name) {
        await request("/admin/api/signin", {}, "", "POST", { name, secret: tok });
        who = await api("/admin/api/me");
        localStorage.setItem(AGENT_KEY, "1");
      } else {
        who = await (await request("/admin/api/me", {}, tok)).json();
        sessionStorage.setItem(TOKEN_KEY, tok);
      }
    } catch (e) {
      $("#login-error").textContent = e instanceof AuthError ? "The name, secret or token was not accepted." : e.message;
      return;
    }
    $("#token").value = "";
    showApp();
  }

  function showApp() {
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#whoami").textContent = who ? (who.role === "agent" ? who.displayName : "Admin") : "";
    document.dispatchEvent(new CustomEvent("parley:signedin", { detail: who }));
    route();
  }

  // resume shows the app when this tab has the admin token or the browser
  // an agent's sign-in, else the sign-in form.
  async function resume() {
    if (!token() && !localStorage.getItem(AGENT_KEY)) {
      signOut("");
      return;
    }
    try {
      who = await api("/admin/api/me");
      showApp();
    } catch (e) {
      signOut("");
    }
  }

  // ---- filters ----

  const DAY = 864e5;

  function localMidnight(daysAgo) {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    d.setDate(d.getDate() - daysAgo);
    return d;
  }

  function utcMidnight(daysAgo) {
    const d = new Date();
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - daysAgo));
  }

  function iso(d) { return d.toISOString().replace(/\.\d{3}Z$/, "Z"); }

  // period turns a preset into {from, to} for the API. Custom dates are
  // whole days: local days, or UTC days when utc is set (the usage report).
  function period(f, utc) {
    const mid = utc ? utcMidnight : localMidnight;
    switch (f.preset) {
      case "today": return { from: iso(mid(0)) };
      case "7d": return { from: iso(mid(6)) };
      case "30d": return { from: iso(mid(29)) };
      case "90d": return { from: iso(mid(89)) };
      case "365d": return { from: iso(mid(364)) };
      case "custom": {
        const p = {};
        const parse = s => utc ? new Date(s + "T00:00:00Z") : new Date(s + "T00:00:00");
        if (f.customFrom) p.from = iso(parse(f.customFrom));
        if (f.customTo) p.to = iso(new Date(parse(f.customTo).getTime() + DAY));
        return p;
      }
    }
    return {};
  }

  // periodControls is the preset select with the custom date fields.
  function periodControls(f, presets, onChange) {
    const from = h("input", { type: "date", value: f.customFrom || "", "aria-label": "From (first day)",
      onchange: e => { f.customFrom = e.target.value; onChange(); } });
    const to = h("input", { type: "date", value: f.customTo || "", "aria-label": "To (last day)",
      onchange: e => { f.customTo = e.target.value; onChange(); } });
    const custom = h("span", { class: "custom", hidden: f.preset !== "custom" }, from, " – ", to);
    const sel = h("select", { id: "period", "aria-label": "Period", onchange: e => {
      f.preset = e.target.value;
      custom.hidden = f.preset !== "custom";
      onChange();
    } }, presets.map(([v, label]) => h("option", { value: v, selected: v === f.preset }, label)));
    return h("span", { class: "period" }, h("label", { for: "period" }, "Period"), sel, custom);
  }

  // toggle is a button that stays pressed: one of the three seed-000 filters.
  function toggle(f, key, label, onChange) {
    return h("button", { type: "button", class: "toggle", "data-toggle": key, "aria-pressed": f[key] ? "true" : "false",
      onclick: e => {
        f[key] = !f[key];
        e.currentTarget.setAttribute("aria-pressed", f[key] ? "true" : "false");
        onChange();
      } }, label);
  }

  function searchBox(f, placeholder, onChange) {
    let timer;
    return h("input", { type: "search", value: f.q || "", placeholder, "aria-label": placeholder,
      oninput: e => { clearTimeout(timer); timer = setTimeout(() => { f.q = e.target.value.trim(); onChange(); }, 300); } });
  }

  // pager keeps a list with a "Load more" button driven by the API's
  // cursor; the button goes after anchor (the list itself by default).
  function pager(container, load, renderItems, emptyText, anchor) {
    let cursor = null;
    let generation = 0; // a reset starts a new one; answers of older ones are dropped
    const more = h("button", { type: "button", class: "more", hidden: true, onclick: () => next(false) }, "Load more");
    const status = h("p", { class: "muted", "aria-live": "polite" });
    (anchor || container).after(more, status);
    async function next(reset) {
      if (reset) {
        cursor = null;
        generation++;
      }
      const mine = generation;
      more.disabled = true;
      status.textContent = "Loading…";
      try {
        const page = await load(cursor);
        if (mine !== generation) return;
        if (reset) container.replaceChildren();
        renderItems(page.items);
        cursor = page.next;
        more.hidden = !cursor;
        status.textContent = container.childElementCount === 0 ? emptyText : "";
      } catch (e) {
        status.textContent = "";
        handle(e);
      } finally {
        more.disabled = false;
      }
    }
    return () => next(true);
  }

  // ---- views ----

  const userFilters = { preset: "30d", engaged: false, files: false, inputs: false, q: "" };

  function userParams(f) {
    return Object.assign(period(f), { engaged: f.engaged, files: f.files, inputs: f.inputs, q: f.q });
  }

  function viewUsers() {
    const f = userFilters;
    const body = h("tbody", { id: "users-body" });
    const table = h("table", { class: "list", id: "users" },
      h("caption", { class: "sr-only" }, "Visitors, newest interaction first"),
      h("thead", {}, h("tr", {}, ["User", "Name", "Email", "Phone", "Inputs and tags", "Device", "Files", "User inputs", "Last interaction", "Sentiment"].map(t => h("th", { scope: "col" }, t)))),
      body);
    const reload = () => refresh();
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      periodControls(f, [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["all", "All time"], ["custom", "Custom…"]], reload),
      h("span", { class: "toggles" }, toggle(f, "engaged", "Engagements", reload), toggle(f, "files", "Files", reload), toggle(f, "inputs", "User inputs", reload)),
      searchBox(f, "Search ID, name, email, phone", reload),
      h("button", { type: "button", class: "secondary", onclick: () => download("/admin/api/users.csv", userParams(f), "users.csv") }, "Export CSV"));
    const scroll = h("div", { class: "scroll" }, table);
    main().replaceChildren(h("h1", {}, "User sessions"), bar, scroll);
    const refresh = pager(body, cursor => api("/admin/api/users", Object.assign(userParams(f), { cursor })), items => {
      for (const u of items) {
        body.append(h("tr", { "data-id": u.id },
          h("td", { "data-label": "User" }, h("a", { href: "#/users/" + encodeURIComponent(u.id), class: "user" }, u.label),
            u.label !== u.id ? h("div", { class: "muted id" }, u.id) : null,
            u.platformId ? h("div", { class: "muted id platform" }, "Platform ID " + u.platformId) : null),
          h("td", { "data-label": "Name" }, u.name || h("span", { class: "no" }, "—")),
          h("td", { "data-label": "Email" }, u.email || h("span", { class: "no" }, "—")),
          h("td", { "data-label": "Phone" }, u.phone || h("span", { class: "no" }, "—")),
          h("td", { "data-label": "Inputs and tags", class: "lead" },
            (u.inputs || []).map(i => h("div", {}, h("span", { class: "muted" }, i.name + ": "), i.value)),
            (u.tags || []).length ? h("p", { class: "chips" }, u.tags.map(t => h("span", { class: "chip" }, "#" + t))) : null,
            !(u.inputs || []).length && !(u.tags || []).length ? h("span", { class: "no" }, "—") : null),
          h("td", { "data-label": "Device" }, deviceText(u.device)),
          h("td", { "data-label": "Files" }, whenEl(u.lastFileAt)),
          h("td", { "data-label": "User inputs" }, whenEl(u.lastInputAt)),
          h("td", { "data-label": "Last interaction" }, whenEl(u.lastInteractionAt)),
          h("td", { "data-label": "Sentiment" }, u.sentiment ? sentimentChip(u.sentiment.name, "Sentiment of the latest text") : h("span", { class: "no" }, "—"))));
      }
    }, "No visitor matches these filters.", scroll);
    refresh();
  }

  function field(label, value) {
    return [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? h("span", { class: "no" }, "—") : value)];
  }

  function fileButton(f) {
    return h("button", { type: "button", class: "download", "data-file": f.id,
      "aria-label": "Download " + f.name, onclick: () => download(f.url, {}, f.name) }, "⤓ " + f.name);
  }

  // privacyCard offers the privacy requests of a visitor: export (JSON, or
  // a ZIP with the files) and erase, the latter behind a typed confirmation.
  function privacyCard(id, label) {
    const path = "/admin/api/users/" + encodeURIComponent(id);
    return h("section", { class: "card privacy", "aria-label": "Privacy requests" },
      h("h2", {}, "Privacy requests"),
      h("p", { class: "muted" }, "Export everything stored about this visitor, or erase it completely. Usage counts stay: they are aggregates."),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "export", onclick: () => download(path + "/export", {}, "parley-visitor-" + id + ".json") }, "Export JSON"),
        h("button", { type: "button", class: "export-zip", onclick: () => download(path + "/export", { format: "zip" }, "parley-visitor-" + id + ".zip") }, "Export with files (ZIP)"),
        who && who.role === "admin" ? h("button", { type: "button", class: "erase danger", onclick: () => confirmErase(path, label) }, "Erase visitor…") : null));
  }

  function confirmErase(path, label) {
    const input = h("input", { type: "text", id: "erase-confirm", autocomplete: "off", "aria-describedby": "erase-help" });
    const err = h("p", { class: "error", role: "alert" });
    const dlg = h("dialog", { class: "card confirm", "aria-labelledby": "erase-title" },
      h("h2", { id: "erase-title" }, "Erase " + label + "?"),
      h("p", { id: "erase-help" }, "This deletes the visitor, every session, message, input and file at once, and cannot be undone. Type ERASE to confirm."),
      h("label", { for: "erase-confirm" }, "Confirmation"), input, err,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Cancel"),
        h("button", { type: "button", class: "danger", id: "erase-do", onclick: async () => {
          if (input.value.trim() !== "ERASE") {
            err.textContent = "Type ERASE to confirm.";
            input.focus();
            return;
          }
          try {
            await request(path, {}, "", "DELETE");
            dlg.close();
            nextFlash = "The visitor was erased.";
            location.hash = "#/users";
          } catch (e) {
            dlg.close();
            handle(e);
          }
        } }, "Erase for good")));
    dlg.addEventListener("close", () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
  }

  async function viewUser(id) {
    main().replaceChildren(h("p", { class: "muted" }, "Loading…"));
    let p;
    try {
      p = await api("/admin/api/users/" + encodeURIComponent(id));
    } catch (e) {
      handle(e);
      main().replaceChildren(h("p", {}, "This visitor could not be loaded."), h("a", { href: "#/users" }, "Back to user sessions"));
      return;
    }
    const vars = Object.entries(p.variables || {});
    const profile = h("section", { class: "card profile", "aria-label": "Profile" },
      h("dl", {},
        field("Name", p.name), field("Email", p.email), field("Phone", p.phone),
        field("Source platform", p.sourcePlatform), field("Device", deviceText(p.device)),
        field("User ID", p.id), field("Platform ID", p.platformId), field("Created", whenEl(p.createdAt)),
        field("Last interaction", p.lastInteractionAt ? whenEl(p.lastInteractionAt) : null),
        field("Last message received", p.lastMessageReceived),
        field("Latest sentiment", p.sentiment ? sentimentChip(p.sentiment.name, `Score ${p.sentiment.score}, `+ when(p.sentiment.at)) : null)),
      vars.length ? h("details", {}, h("summary", {}, `Variables (${vars.length})`),
        h("table", { class: "kv" }, h("tbody", {}, vars.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))) : null);

    const f = Object.assign({}, userFilters, { q: "" });
    const list = h("div", { class: "sessions", id: "visitor-sessions" });
    const reload = () => refresh();
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      periodControls(f, [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["all", "All time"], ["custom", "Custom…"]], reload),
      h("span", { class: "toggles" }, toggle(f, "engaged", "Engagements", reload), toggle(f, "files", "Files", reload), toggle(f, "inputs", "User inputs", reload)));
    const editor = window.ParleyConsole.profileEditor(p, () => viewUser(id)); // profile.js
    main().replaceChildren(h("a", { href: "#/users", class: "back" }, "← User sessions"), h("h1", {}, p.label), profile, editor,
      h("h2", {}, "Chatbot sessions"), bar, list, privacyCard(id, p.label));
    const refresh = pager(list, cursor => api("/admin/api/users/" + encodeURIComponent(id) + "/sessions", Object.assign(userParams(f), { q: "", cursor })), items => {
      for (const s of items) {
        list.append(h("article", { class: "card session", "data-id": s.id },
          h("header", {}, h("strong", {}, "Session start: ", whenEl(s.startedAt)),
            h("a", { href: "#/sessions/" + encodeURIComponent(s.id), class: "transcript-link" }, "Open transcript")),
          h("p", { class: "meta" }, `${s.bot} v${s.version} · ${s.channel} · ${deviceText(s.device)} · ${s.messageCount} messages · last activity `, whenEl(s.lastActivityAt)),
          s.sentiment || s.unanswered ? h("p", { class: "chips" }, sentimentChip(s.sentiment),
            unansweredChip(s.unanswered)) : null,
          s.inputs.length ? h("table", { class: "kv inputs" }, h("caption", {}, "User inputs"), h("tbody", {}, s.inputs.map(i =>
            h("tr", {}, h("th", { scope: "row" }, i.name || i.kind), h("td", {}, i.value), h("td", { class: "muted" }, i.kind + " · ", whenEl(i.at)))))) : h("p", { class: "muted" }, "User inputs: No"),
          s.files.length ? h("div", { class: "files" }, h("span", {}, "Files: "), s.files.map(fl => h("span", { class: "file" }, fileButton(fl), h("span", { class: "muted" }, ` ${size(fl.size)} · ${fl.type} · `, whenEl(fl.at))))) : h("p", { class: "muted" }, "Files: No")));
      }
    }, "No session matches these filters.");
    refresh();
  }

  const sessionFilters = { preset: "30d", channel: "", bot: "", version: "", status: "", responses: "", goal: "", block: "", tag: "", forms: "", type: "", lang: "", sentiment: "", unanswered: "", q: "" };
  let facetCache = null;

  async function facets() {
    if (!facetCache) {
      const u = await api("/admin/api/usage", { from: iso(utcMidnight(364)) });
      facetCache = { bots: u.bots.map(b => b.bot), versions: [...new Set(u.versions.map(v => v.version))], channels: u.channels.map(c => c.channel) };
    }
    return facetCache;
  }

  function select(f, key, label, values, onChange) {
    const id = "f-" + key;
    return h("span", { class: "field" }, h("label", { for: id }, label),
      h("select", { id, onchange: e => { f[key] = e.target.value; onChange(); } },
        values.map(([v, l]) => h("option", { value: v, selected: f[key] === v }, l))));
  }

  function text(f, key, label, onChange) {
    const id = "f-" + key;
    return h("span", { class: "field" }, h("label", { for: id }, label),
      h("input", { id, type: "text", value: f[key], size: 10, onchange: e => { f[key] = e.target.value.trim(); onChange(); } }));
  }

  function sessionParams(f) {
    const p = period(f);
    for (const k of ["channel", "bot", "version", "status", "responses", "goal", "block", "tag", "forms", "type", "lang", "sentiment", "unanswered", "q"]) p[k] = f[k];
    return p;
  }

  const lifecycleLabel = { active: "Active", open: "Open", closed: "Closed" };
  const lifecycleHelp = { active: "A socket is open now", open: "Not ended; the visitor can still resume it",
    closed: "Ended by the story or idle past the session timeout" };

  async function viewSessions() {
    const f = sessionFilters;
    let fc = { bots: [], versions: [], channels: [] };
    try { fc = await facets(); } catch (e) { handle(e); }
    const any = l => [["", "All"]].concat(l.map(v => [v, v]));
    const grid = h("div", { class: "cards", id: "session-cards" });
    const reload = () => refresh();
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      periodControls(f, [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["all", "All time"], ["custom", "Custom…"]], reload),
      select(f, "channel", "Channel", any(fc.channels), reload),
      select(f, "bot", "Bot", any(fc.bots), reload),
      select(f, "version", "Version", any(fc.versions), reload),
      select(f, "status", "Status", [["", "All"], ["active", "Active"], ["open", "Open"], ["closed", "Closed"], ["inactive", "Inactive"]], reload),
      select(f, "responses", "Has responses", [["", "All"], ["1", "Yes"], ["0", "No"]], reload),
      select(f, "sentiment", "Sentiment", [["", "All sentiment"], ["positive", "Positive"], ["neutral", "Neutral"], ["negative", "Negative"], ["unknown", "Unknown"]], reload),
      select(f, "unanswered", "Missing knowledge", [["", "All"], ["1", "Unanswered questions"]], reload),
      text(f, "goal", "Goal (* any)", reload), text(f, "block", "Block reached", reload), text(f, "tag", "Tag", reload),
      select(f, "forms", "Forms", [["", "All"], ["1", "With an input"]], reload),
      text(f, "type", "Type", reload), text(f, "lang", "Language", reload),
      searchBox(f, "Name, email, phone", reload),
      h("button", { type: "button", class: "secondary", onclick: () => download("/admin/api/sessions.csv", sessionParams(f), "sessions.csv") }, "Export CSV"));
    main().replaceChildren(h("h1", {}, "Sessions"), bar, grid);
    const refresh = pager(grid, cursor => api("/admin/api/sessions", Object.assign(sessionParams(f), { cursor })), items => {
      for (const s of items) {
        grid.append(h("article", { class: "card session-card", "data-id": s.id },
          h("header", {}, h("a", { href: "#/sessions/" + encodeURIComponent(s.id), class: "title" }, s.visitor.label),
            h("span", { class: "badge " + s.lifecycle, title: lifecycleHelp[s.lifecycle] }, lifecycleLabel[s.lifecycle] || s.status)),
          h("p", { class: "meta" }, whenEl(s.startedAt), ` · ${duration(s.durationSeconds)} · ${s.messageCount} messages`),
          h("p", { class: "meta" }, `${s.bot} v${s.version}${s.type ? " (" + s.type + ")" : ""} · ${s.channel}`,
            s.lang ? h("span", { class: "lang", title: "Language: " + (s.locale || s.lang) }, " · " + s.lang.toUpperCase()) : null,
            s.hasResponses ? " · has responses" : " · no response", s.hasInputs ? " · form" : ""),
          h("p", { class: "chips" },
            sentimentChip(s.sentiment),
            unansweredChip(s.unanswered),
            s.goals.map(g => h("span", { class: "chip goal", title: "Goal reached" }, "◎ " + g)),
            s.tags.map(t => h("span", { class: "chip" }, "#" + t)),
            s.lastBlock ? h("span", { class: "chip block", title: "Last block" }, "▸ " + s.lastBlock) : null),
          h("a", { href: "#/users/" + encodeURIComponent(s.visitor.id), class: "muted" }, "Visitor profile")));
      }
    }, "No session matches these filters.");
    refresh();
  }

  // traceEl shows why the bot said a message: the story's way to it since
  // the visitor's last message, collapsed until clicked.
  function traceEl(steps) {
    const q = v => "“" + v + "”";
    const line = st => {
      const after = st.after ? " (after this message)" : "";
      if (st.answered) return `answered ${st.block}` + (st.variable ? `: ${st.variable} = ${q(st.value)}` : st.value ? `: ${q(st.value)}` : "") + (st.next ? ` → ${st.next}` : "");
      if (st.again) return `asked ${st.block} again: it was still open`;
      switch (st.kind) {
        case "condition": return `condition ${st.block}: ${st.variable} ${q(st.value)} ${st.op}${st.want ? " " + q(st.want) : ""} → ${st.branch}` + (st.next ? ` → ${st.next}` : "") + after;
        case "goal": return `goal ${q(st.goal)} reached (${st.block})` + after;
        case "tag": return `tag ${q(st.tag)} set (${st.block})` + after;
        case "end": return `end (${st.block}): the conversation ended` + after;
      }
      return `${st.kind} ${st.block}` + after;
    };
    return h("details", { class: "trace" }, h("summary", {}, `Why? ${steps.length} step${steps.length === 1 ? "" : "s"}`),
      h("ol", {}, steps.map(st => h("li", { class: "step " + st.kind + (st.branch ? " " + st.branch : "") }, line(st)))));
  }

  async function viewTranscript(id) {
    main().replaceChildren(h("p", { class: "muted" }, "Loading…"));
    let t;
    try {
      t = await api("/admin/api/sessions/" + encodeURIComponent(id));
    } catch (e) {
      handle(e);
      main().replaceChildren(h("p", {}, "This session could not be loaded."), h("a", { href: "#/sessions" }, "Back to sessions"));
      return;
    }
    const s = t.session, st = t.state;
    const msgs = h("ol", { class: "transcript", id: "transcript", "aria-label": "Messages" }, t.messages.map(m =>
      h("li", { class: "msg " + m.from, "data-kind": m.kind },
        h("div", { class: "bubble" },
          m.text ? h("p", {}, m.text) : null,
          m.options ? h("p", { class: "chips" }, m.options.map(o => h("span", { class: "chip" + (o.id === m.choice ? " chosen" : "") }, o.label))) : null,
          m.choice ? h("p", { class: "muted" }, "Chose: " + m.choice) : null,
          m.value ? h("p", { class: "muted" }, "Input: " + m.value) : null,
          m.file ? h("p", {}, fileButton(m.file), h("span", { class: "muted" }, ` ${size(m.file.size)} · ${m.file.type}`)) : null,
          m.sentiment || m.unanswered ? h("p", { class: "chips" }, m.sentiment ? sentimentChip(m.sentiment.name, "Score " + m.sentiment.score) : null,
            m.unanswered ? h("span", { class: "chip unanswered", title: "Only the fallback answered this" }, "⁇ unanswered") : null) : null),
        h("p", { class: "stamp" }, `${m.from === "agent" ? m.agentName || m.agent : m.from}${m.block ? " · " + m.block : ""} · `, whenEl(m.at)),
        m.trace && m.trace.length ? traceEl(m.trace) : null)));
    const vars = Object.entries(st.variables);
    const state = h("aside", { class: "card state", "aria-label": "Session state" },
      h("h2", {}, "State"),
      h("dl", {}, field("Status", lifecycleLabel[s.lifecycle] || s.status), field("Language", s.locale || s.lang), field("Current block", st.current), field("Previous block", st.previous),
        field("Waiting for", st.pending), field("Ended", st.ended ? "Yes" : "No"),
        field("Goals", st.goals.join(", ")), field("Tags", st.tags.join(", ")), field("Blocks reached", st.reached.join(" → ")),
        field("Sentiment", st.sentiment ? [sentimentChip(st.sentiment.name), ` mean ${st.sentiment.mean} over ${st.sentiment.scored} texts`] : null),
        field("Unanswered", s.unanswered ? String(s.unanswered) : null)),
      h("h3", {}, "Variables"),
      vars.length ? h("table", { class: "kv" }, h("tbody", {}, vars.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))))) : h("p", { class: "muted" }, "None"));
    main().replaceChildren(
      h("a", { href: "#/sessions", class: "back" }, "← Sessions"),
      h("h1", {}, "Transcript"),
      h("p", { class: "meta" }, h("a", { href: "#/users/" + encodeURIComponent(t.visitor.id) }, t.visitor.label),
        ` · ${s.bot} v${s.version} · ${s.channel} · started `, whenEl(s.startedAt), ` · ${duration(s.durationSeconds)} · ${s.messageCount} messages`),
      h("div", { class: "split" }, msgs, state));
  }

  const usageFilters = { preset: "30d", bot: "", version: "", channel: "" };

  function usageParams(f) {
    const p = period(f, true);
    p.bot = f.bot; p.version = f.version; p.channel = f.channel;
    return p;
  }

  async function viewUsage() {
    const f = usageFilters;
    let fc = { bots: [], versions: [], channels: [] };
    try { fc = await facets(); } catch (e) { handle(e); }
    const any = l => [["", "All"]].concat(l.map(v => [v, v]));
    const out = h("div", { id: "usage-report" });
    const reload = () => render();
    const bar = h("div", { class: "filters", role: "group", "aria-label": "Filters" },
      periodControls(f, [["7d", "Last 7 days"], ["30d", "Last 30 days"], ["90d", "Last 90 days"], ["365d", "Last 365 days"], ["custom", "Custom…"]], reload),
      select(f, "bot", "Bot", any(fc.bots), reload), select(f, "version", "Version", any(fc.versions), reload),
      select(f, "channel", "Channel", any(fc.channels), reload),
      h("button", { type: "button", class: "secondary", onclick: () => download("/admin/api/usage/sessions.csv", usageParams(f), "usage-sessions.csv") }, "Export sessions CSV"));
    main().replaceChildren(h("h1", {}, "Session usage"), h("p", { class: "muted" }, "Sessions consumed, by the UTC day they started."), bar, out);
    // Filters change faster than answers come back: only the latest
    // request may draw, so an older answer never overwrites a newer one.
    let latest = 0;
    async function render() {
      const mine = ++latest;
      let u;
      try { u = await api("/admin/api/usage", usageParams(f)); } catch (e) { handle(e); return; }
      if (mine !== latest) return;
      const C = window.ParleyChart;
      const short = d => d.slice(5);
      out.replaceChildren(
        h("section", { class: "card total" }, h("h2", {}, "Sessions consumed"), h("p", { class: "big", id: "usage-total" }, u.total.toLocaleString()),
          h("p", { class: "muted" }, `${when(u.from)} – ${when(u.to)}`),
          u.refused ? h("p", { id: "usage-refused" }, `Refused, not consumed: ${u.refused.toLocaleString()} starts over a rate limit (${u.refusedReasons.map(r => `${r.reason} ${r.count}`).join(", ")})`) : ""),
        h("section", { class: "card wide" }, h("h2", {}, "Session consumption trend"),
          C.line(u.days.map(d => ({ label: short(d.date), value: d.count })), { label: `Sessions per day, ${u.days.length} days` })),
        h("div", { class: "grid2" },
          h("section", { class: "card" }, h("h2", {}, "By bot"), C.bars(u.bots.map(b => ({ label: b.bot, value: b.count })), { label: "Sessions per bot" })),
          h("section", { class: "card" }, h("h2", {}, "By channel"), C.bars(u.channels.map(c => ({ label: c.channel, value: c.count })), { label: "Sessions per channel" })),
          h("section", { class: "card" }, h("h2", {}, "By bot version"), C.bars(u.versions.map(v => ({ label: `${v.bot} v${v.version}`, value: v.count })), { label: "Sessions per bot version" })),
          h("section", { class: "card" }, h("h2", {}, "By month"), C.bars(u.months.map(m => ({ label: m.month, value: m.count })), { label: "Sessions per month" }))));
    }
    render();
  }

  // ---- routing ----

  // nextFlash is shown by the next view, after the hash change clears the old one.
  let nextFlash = "";

  // extraViews holds the pages other console files add with
  // ParleyConsole.addView, keyed by the first part of their hash.
  const extraViews = new Map();

  // addView adds a page: a nav link labelled label at #/name, and view,
  // called with the rest of the hash's parts when the page is opened.
  function addView(name, label, view) {
    extraViews.set(name, view);
    const nav = document.querySelector("header.top nav");
    nav.append(h("a", { href: "#/" + name, "data-nav": name }, label));
  }

  function route() {
    flash(nextFlash);
    nextFlash = "";
    const parts = (location.hash.replace(/^#\/?/, "") || "users").split("/").map(decodeURIComponent);
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === parts[0]) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (parts[0] === "users" && parts[1]) viewUser(parts[1]);
    else if (parts[0] === "sessions" && parts[1]) viewTranscript(parts[1]);
    else if (parts[0] === "sessions") viewSessions();
    else if (parts[0] === "usage") viewUsage();
    else if (extraViews.has(parts[0])) extraViews.get(parts[0])(parts.slice(1));
    else viewUsers();
    main().focus({ preventScroll: true });
  }

  // ParleyConsole is what the console's other files build their pages
  // with: the same DOM, API and formatting helpers as the built-in views.
  window.ParleyConsole = { h, api, request, download, handle, flash, main, when, whenEl, size, duration, deviceText, period, addView,
    who: () => who, token };
  // The filter controls, for pages that filter as the built-in ones do.
  Object.assign(window.ParleyConsole, { periodControls, select });

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", signIn);
    $("#logout").addEventListener("click", () => signOut("", true));
    window.addEventListener("hashchange", () => { if (who) route(); });
    resume();
  });
})();
