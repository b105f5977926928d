// Parley console: the live inbox. Conversations waiting for a person
// (oldest first) and those each agent holds, kept live by Server-Sent
// Events; opening one shows its transcript, a reply box, the hand-over
// actions and the help-desk record (status, assignee, private notes).
(function () {
  "use strict";

  const C = window.ParleyConsole;
  const { h, api, request, handle, flash, main, whenEl } = C;
  const BASE_TITLE = document.title;
  const PREFS = "parley.inbox.";

  // pref reads an on/off setting of this browser (default on).
  const pref = name => localStorage.getItem(PREFS + name) !== "off";
  const setPref = (name, on) => localStorage.setItem(PREFS + name, on ? "on" : "off");

  const me = () => (C.who() || {}).name || "";

  function waited(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // ---- the live stream ----

  // live holds the inbox as last listed and who listens to it.
  const live = { inbox: null, known: new Set(), onInbox: new Set(), onEvent: new Set(), source: null, stopped: true };

  // reload lists the inbox again (coalescing bursts of events) and tells
  // the listeners; a conversation newly waiting rings, once.
  let reloadTimer = 0;
  function reload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(async () => {
      let inbox;
      try { inbox = await api("/admin/api/inbox"); } catch (e) { return; }
      const fresh = inbox.waiting.filter(i => !live.known.has(i.session));
      live.known = new Set(inbox.waiting.map(i => i.session));
      if (live.inbox && fresh.length && pref("sound")) ring();
      live.inbox = inbox;
      paintTitle();
      live.onInbox.forEach(fn => fn(inbox));
    }, 50);
  }

  function paintTitle() {
    const n = live.inbox ? live.inbox.waiting.length : 0;
    document.title = n && pref("badge") ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  }

  // ring plays a short tone (no file to fetch: the CSP allows none).
  function ring() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.08;
      o.connect(g).connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.15);
      o.onended = () => ctx.close();
    } catch (e) { /* no audio here */ }
  }

  function dispatch(ev) {
    if (ev.type === "changed") reload();
    live.onEvent.forEach(fn => fn(ev));
  }

  // connect opens the event stream. A signed-in agent's browser uses
  // EventSource with its cookie, which reconnects by itself; the admin
  // token cannot go into an EventSource, so a token's tab reads the
  // stream with fetch and reconnects itself.
  function connect() {
    live.stopped = false;
    reload();
    if (!C.token()) {
      const es = new EventSource("/admin/api/inbox/events");
      es.onopen = () => reload(); // a reconnect: what was missed is listed again
      for (const type of ["changed", "typing", "goal"]) {
        es.addEventListener(type, e => { try { dispatch(JSON.parse(e.data)); } catch (x) { /* not ours */ } });
      }
      es.onerror = () => { if (es.readyState === EventSource.CLOSED && !live.stopped) setTimeout(connect, 2000); };
      live.source = es;
      return;
    }
    const ctrl = new AbortController();
    live.source = { close: () => ctrl.abort() };
    (async () => {
      try {
        const resp = await request("/admin/api/inbox/events", {}, "", "GET");
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        reload();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
            if (data) { try { dispatch(JSON.parse(data)); } catch (x) { /* not ours */ } }
          }
        }
      } catch (e) { /* dropped: reconnect below */ }
      if (!live.stopped) setTimeout(connect, 1000);
    })();
  }

  function disconnect() {
    live.stopped = true;
    if (live.source) live.source.close();
    live.source = null;
    live.inbox = null;
    document.title = BASE_TITLE;
  }

  document.addEventListener("parley:signedin", () => { disconnect(); connect(); });
  document.addEventListener("parley:signedout", disconnect);

  // ---- the list ----

  function settings() {
    const box = (name, label) => h("label", { class: "pref" },
      h("input", { type: "checkbox", id: "pref-" + name, checked: pref(name), onchange: e => { setPref(name, e.target.checked); paintTitle(); } }), " ", label);
    return h("div", { class: "filters", role: "group", "aria-label": "Notifications" },
      box("badge", "Count in the tab title"), box("sound", "Sound for a new waiting conversation"));
  }

  function item(i, now) {
    const wait = h("span", { class: "waited", "data-since": i.waitingSince || "" },
      i.handover === "waiting" ? "waiting " + waited((now - Date.parse(i.waitingSince)) / 1000) : "");
    return h("li", { class: "card inbox-item" + (i.unread ? " unread" : ""), "data-session": i.session },
      h("div", { class: "row" },
        i.unread ? h("span", { class: "dot", title: "Unread" }, h("span", { class: "sr-only" }, "Unread: ")) : null,
        h("a", { href: "#/inbox/" + encodeURIComponent(i.session), class: "title" }, i.visitor.label),
        wait,
        i.handover === "held" ? h("span", { class: "badge held" }, "held by " + (i.agentName || i.agent)) : null,
        i.assignee ? h("span", { class: "chip" }, "assigned to " + i.assignee) : null,
        i.handover === "waiting" ? h("button", { type: "button", class: "take primary", onclick: () => take(i.session, true) }, "Take") : null),
      i.lastMessage ? h("p", { class: "preview muted" }, `${i.lastMessage.from}: ${i.lastMessage.text}`) : null);
  }

  async function take(sid, open) {
    try {
      await request("/admin/api/sessions/" + encodeURIComponent(sid) + "/take", {}, "", "POST", {});
      if (open) location.hash = "#/inbox/" + encodeURIComponent(sid);
      return true;
    } catch (e) {
      handle(e);
      return false;
    }
  }

  function viewList() {
    const waiting = h("ol", { class: "inbox", id: "inbox-waiting", "aria-live": "polite" });
    const held = h("div", { id: "inbox-held" });
    const open = h("ol", { class: "inbox", id: "inbox-open" });
    main().replaceChildren(h("h1", {}, "Inbox"), settings(),
      h("h2", {}, "Waiting for a person"), waiting,
      h("h2", {}, "Held"), held,
      h("h2", {}, "Open"), h("p", { class: "muted" }, "Handed back or closed, not yet resolved."), open);
    const paint = inbox => {
      const now = Date.now();
      waiting.replaceChildren(...inbox.waiting.map(i => item(i, now)));
      if (!inbox.waiting.length) waiting.append(h("li", { class: "muted" }, "Nobody is waiting."));
      const byAgent = new Map();
      for (const i of inbox.held) {
        const k = i.agentName || i.agent;
        if (!byAgent.has(k)) byAgent.set(k, []);
        byAgent.get(k).push(i);
      }
      held.replaceChildren(...[...byAgent].map(([agent, list]) => h("section", { class: "held-by" },
        h("h3", {}, agent), h("ol", { class: "inbox" }, list.map(i => item(i, now))))));
      if (!inbox.held.length) held.append(h("p", { class: "muted" }, "Nobody holds a conversation."));
      open.replaceChildren(...inbox.open.map(i => item(i, now)));
      if (!inbox.open.length) open.append(h("li", { class: "muted" }, "None."));
    };
    if (live.inbox) paint(live.inbox);
    live.onInbox.add(paint);
    reload();
    // The waited times move on by themselves.
    const tick = setInterval(() => {
      for (const s of waiting.querySelectorAll(".waited[data-since]")) {
        if (s.dataset.since) s.textContent = "waiting " + waited((Date.now() - Date.parse(s.dataset.since)) / 1000);
      }
    }, 1000);
    return () => { live.onInbox.delete(paint); clearInterval(tick); };
  }

  // ---- one conversation ----

  function viewConversation(sid) {
    const path = "/admin/api/sessions/" + encodeURIComponent(sid);
    const head = h("div", { class: "conv-head" });
    const msgs = h("ol", { class: "transcript", id: "transcript", "aria-label": "Messages", "aria-live": "polite" });
    const typing = h("p", { class: "muted typing", id: "visitor-typing", hidden: true }, "The visitor is typing…");
    const text = h("textarea", { id: "reply-text", rows: 3, "aria-label": "Reply", placeholder: "Write to the visitor…" });
    let lastTyping = 0, typingTimer = 0, state = null;
    text.addEventListener("input", () => {
      const held = state && state.handover && state.handover.status === "held" && state.handover.agent === me();
      if (held && Date.now() - lastTyping > 3000) {
        lastTyping = Date.now();
        request(path + "/typing", {}, "", "POST", {}).catch(() => {});
      }
    });
    // A reply whose answer did not come keeps its clientId, so sending
    // the same text again cannot store it twice.
    let unanswered = null;
    const send = async ev => {
      ev.preventDefault();
      const t = text.value.trim();
      if (!t) return;
      if (!unanswered || unanswered.text !== t) {
        unanswered = { text: t, id: "r" + Array.from(crypto.getRandomValues(new Uint32Array(3)), n => n.toString(36)).join("") };
      }
      try {
        await request(path + "/messages", {}, "", "POST", { text: t, clientId: unanswered.id });
        unanswered = null;
        text.value = "";
        load();
      } catch (e) { handle(e); }
    };
    const reply = h("form", { class: "reply", id: "reply" }, text, h("button", { type: "submit", class: "primary", id: "reply-send" }, "Send"));
    reply.addEventListener("submit", send);
    // The note form stays as it is while the conversation repaints, so a
    // note being written survives the live updates.
    const noteList = h("ul", { id: "notes" });
    const note = h("textarea", { id: "note-text", rows: 2, "aria-label": "New private note" });
    const noteForm = h("form", { id: "note-form" }, note, h("button", { type: "submit" }, "Add note"));
    noteForm.addEventListener("submit", async ev => {
      ev.preventDefault();
      if (!note.value.trim()) return;
      try {
        await request(path + "/notes", {}, "", "POST", { text: note.value });
        note.value = "";
        load();
      } catch (e) { handle(e); }
    });
    const notes = h("section", { class: "card notes", "aria-label": "Private notes" },
      h("h2", {}, "Private notes"), h("p", { class: "muted" }, "Only agents see these."), noteList, noteForm);
    const record = h("div", { class: "record" });
    main().replaceChildren(h("a", { href: "#/inbox", class: "back" }, "← Inbox"), head,
      h("div", { class: "split" }, h("div", {}, msgs, typing, reply), h("aside", {}, record, notes)));

    const act = (what, body) => async () => {
      try {
        await request(path + "/" + what, {}, "", "POST", body || {});
        load();
      } catch (e) { handle(e); load(); }
    };

    async function load() {
      let t, conv;
      try {
        [t, conv] = await Promise.all([api(path), api(path + "/conversation")]);
      } catch (e) { handle(e); return; }
      state = t.state;
      const hv = t.state.handover;
      const mine = hv && hv.status === "held" && hv.agent === me();
      const blocks = h("select", { id: "handback-block", "aria-label": "Hand back at" },
        h("option", { value: "" }, "where the story was"), t.state.reached.map(b => h("option", { value: b }, b)));
      head.replaceChildren(
        h("h1", {}, t.visitor.label),
        h("p", { class: "meta", id: "conv-status" }, t.state.ended ? "Ended" :
          !hv ? "The bot answers" : hv.status === "waiting" ? "Waiting for a person since " + new Date(hv.waitingSince).toLocaleTimeString() :
            "Held by " + (hv.agentName || hv.agent)),
        h("div", { class: "actions" },
          !t.state.ended && !mine ? h("button", { type: "button", class: "primary", id: "take", onclick: act("take") }, "Take over") : null,
          mine ? h("span", {}, h("button", { type: "button", id: "handback", onclick: () => act("handback", { block: blocks.value })() }, "Hand back to the bot"), " at ", blocks) : null,
          !t.state.ended && (!hv || hv.status !== "held" || mine) ? h("button", { type: "button", class: "danger", id: "close", onclick: act("close") }, "Close conversation") : null));
      msgs.replaceChildren(...t.messages.map(m => h("li", { class: "msg " + m.from, "data-kind": m.kind },
        h("div", { class: "bubble" }, m.text ? h("p", {}, m.text) : null,
          m.options ? h("p", { class: "chips" }, m.options.map(o => h("span", { class: "chip" }, o.label))) : null),
        h("p", { class: "stamp" }, (m.from === "agent" ? (m.agentName || m.agent) : m.from) + " · ", whenEl(m.at)))));
      reply.hidden = t.state.ended;
      paintRecord(conv);
      request(path + "/read", {}, "", "POST", {}).catch(() => {});
    }

    async function paintRecord(conv) {
      let agents = [];
      try { agents = (await api("/admin/api/agents")).items; } catch (e) { /* the list stays empty */ }
      const assign = h("select", { id: "assignee", "aria-label": "Assigned to", onchange: e => act("conversation", { assignee: e.target.value })() },
        h("option", { value: "" }, "nobody"),
        [{ name: "admin", displayName: "Admin" }].concat(agents).map(a => h("option", { value: a.name, selected: a.name === conv.assignee }, a.displayName)));
      record.replaceChildren(h("section", { class: "card" },
        h("h2", {}, "Conversation"),
        h("p", {}, "Status: ", h("strong", { id: "conv-resolved" }, conv.status)),
        h("p", {}, h("label", { for: "assignee" }, "Assigned to "), assign),
        conv.status === "resolved" ?
          h("button", { type: "button", id: "reopen", onclick: act("conversation", { status: "open" }) }, "Reopen") :
          h("button", { type: "button", id: "resolve", onclick: act("conversation", { status: "resolved" }) }, "Mark resolved")));
      record.dataset.assignee = conv.assignee || "";
      noteList.replaceChildren(...conv.notes.map(n => h("li", {}, h("p", {}, n.text), h("p", { class: "muted" }, n.agentName + " · ", whenEl(n.at)))));
    }

    const onEvent = ev => {
      if (ev.session !== sid) return;
      if (ev.type === "typing") {
        typing.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { typing.hidden = true; }, 5000);
      } else {
        typing.hidden = true;
        load();
      }
    };
    live.onEvent.add(onEvent);
    load();
    return () => { live.onEvent.delete(onEvent); clearTimeout(typingTimer); };
  }

  // leave undoes what the open view listens to when another opens.
  let leave = null;
  window.addEventListener("hashchange", () => {
    if (leave && !location.hash.startsWith("#/inbox")) { leave(); leave = null; }
  });

  C.addView("inbox", "Inbox", parts => {
    if (leave) leave();
    flash("");
    leave = parts[0] ? viewConversation(parts[0]) : viewList();
  });
})();
