// Parley console: the agents who answer visitors. Everyone signed in sees
// the list; the admin token adds an agent (its secret shown once, here)
// and revokes one.
(function () {
  "use strict";

  const C = window.ParleyConsole;
  const { h, api, request, handle, main, whenEl } = C;

  async function viewAgents() {
    const isAdmin = (C.who() || {}).role === "admin";
    const body = h("tbody", { id: "agents-body" });
    const secretBox = h("div", { id: "agent-secret", class: "card secret", hidden: true, role: "status" });
    main().replaceChildren(h("h1", {}, "Agents"),
      h("p", { class: "muted" }, "People who answer visitors in the inbox. Each signs in with their name and a secret of their own."),
      secretBox,
      h("div", { class: "scroll" }, h("table", { class: "list", id: "agents" },
        h("thead", {}, h("tr", {}, ["Name", "Shown to visitors as", "Email", "Sites", "Added", ""].map(t => h("th", { scope: "col" }, t)))),
        body)),
      isAdmin ? addForm() : h("p", { class: "muted" }, "Only the admin token adds and revokes agents (or `parley agent add`)."));

    async function load() {
      let list;
      try { list = await api("/admin/api/agents"); } catch (e) { handle(e); return; }
      body.replaceChildren(...list.items.map(a => h("tr", { "data-agent": a.name },
        h("td", {}, a.name), h("td", {}, a.displayName), h("td", {}, a.email || "—"),
        h("td", {}, (a.sites || []).join(", ") || "all"), h("td", {}, whenEl(a.createdAt)),
        h("td", {}, isAdmin ? h("button", { type: "button", class: "revoke", onclick: () => revoke(a.name) }, "Revoke") : null))));
      if (!list.items.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No agents yet.")));
    }

    function addForm() {
      const field = (id, label, attrs) => h("p", {}, h("label", { for: id }, label), " ", h("input", Object.assign({ id, type: "text" }, attrs || {})));
      const form = h("form", { id: "agent-form", class: "card" }, h("h2", {}, "Add an agent"),
        field("agent-new-name", "Sign-in name", { required: true, autocomplete: "off", spellcheck: "false" }),
        field("agent-new-display", "Shown to visitors as"),
        field("agent-new-email", "Email for waiting conversations and leads", { type: "email" }),
        field("agent-new-sites", "Sites (comma-separated; empty for all)"),
        h("button", { type: "submit", class: "primary" }, "Add agent"));
      form.addEventListener("submit", async ev => {
        ev.preventDefault();
        const v = id => form.querySelector("#" + id).value.trim();
        const sites = v("agent-new-sites").split(",").map(x => x.trim()).filter(Boolean);
        try {
          const resp = await request("/admin/api/agents", {}, "", "POST",
            { name: v("agent-new-name"), displayName: v("agent-new-display"), email: v("agent-new-email"), sites });
          const a = await resp.json();
          secretBox.replaceChildren(
            h("p", {}, `Give ${a.displayName} their sign-in name `, h("strong", {}, a.name), " and this secret. It is shown this once:"),
            h("p", {}, h("code", { id: "agent-secret-value" }, a.secret)));
          secretBox.hidden = false;
          form.reset();
          load();
        } catch (e) { handle(e); }
      });
      return form;
    }

    async function revoke(name) {
      if (!window.confirm(`Revoke ${name}? Their consoles are signed out at once.`)) return;
      try {
        await request("/admin/api/agents/" + encodeURIComponent(name), {}, "", "DELETE");
        load();
      } catch (e) { handle(e); }
    }

    load();
  }

  C.addView("agents", "Agents", viewAgents);
})();
