// Parley console: editing a visitor's profile (name, email, phone, notes)
// and the list of who changed what, when. viewUser in app.js shows it
// under the profile, through ParleyConsole.profileEditor.
(() => {
  "use strict";
  const C = window.ParleyConsole;
  const { h } = C;

  const FIELDS = [["name", "Name", "text"], ["email", "Email", "email"], ["phone", "Phone", "tel"]];
  const LABELS = { name: "Name", email: "Email", phone: "Phone", notes: "Notes", platformId: "Platform ID", merged: "Merged browser" };

  // changesList shows the audit list, newest first.
  function changesList(changes) {
    if (!changes || !changes.length) return h("p", { class: "muted", id: "profile-changes" }, "No changes yet.");
    return h("table", { class: "kv changes", id: "profile-changes" },
      h("caption", {}, "Changes"),
      h("thead", {}, h("tr", {}, ["When", "Who", "Field", "From", "To"].map(t => h("th", { scope: "col" }, t)))),
      h("tbody", {}, changes.map(c => h("tr", {},
        h("td", {}, C.whenEl(c.at)), h("td", {}, c.by), h("td", {}, LABELS[c.field] || c.field),
        h("td", {}, c.from || "—"), h("td", {}, c.to || "—")))));
  }

  // profileEditor returns the edit card of profile p; saved runs after a
  // successful edit with the new profile.
  C.profileEditor = (p, saved) => {
    const err = h("p", { class: "error", role: "alert", id: "profile-error" });
    const inputs = {};
    const rows = FIELDS.map(([name, label, type]) => {
      inputs[name] = h("input", { id: "pe-" + name, name, type, autocomplete: "off", value: p[name] || "" });
      return h("p", { class: "field" }, h("label", { for: "pe-" + name }, label), inputs[name]);
    });
    inputs.notes = h("textarea", { id: "pe-notes", name: "notes", rows: 3, maxlength: 4000 }, p.notes || "");
    const form = h("form", { class: "profile-edit", id: "profile-form", hidden: true, novalidate: true, onsubmit: async e => {
      e.preventDefault();
      const body = {};
      // Only what changed: an unchanged field is not re-validated or recorded.
      for (const [name, el] of Object.entries(inputs)) {
        if (el.value !== (p[name] || "")) body[name] = el.value;
      }
      if (!Object.keys(body).length) { form.hidden = true; edit.hidden = false; return; }
      err.textContent = "";
      try {
        const next = await (await C.request("/admin/api/users/" + encodeURIComponent(p.id), {}, null, "PATCH", body)).json();
        C.flash("Profile saved.");
        saved(next);
      } catch (x) {
        if (x.constructor.name === "AuthError") return C.handle(x);
        err.textContent = x.message;
      }
    } }, rows, h("p", { class: "field" }, h("label", { for: "pe-notes" }, "Notes"), inputs.notes), err,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => { form.hidden = true; edit.hidden = false; } }, "Cancel"),
        h("button", { type: "submit", id: "profile-save" }, "Save")));
    const edit = h("button", { type: "button", id: "profile-edit", onclick: () => { form.hidden = false; edit.hidden = true; inputs.name.focus(); } }, "Edit profile");
    return h("section", { class: "card profile-editor", "aria-label": "Edit profile" },
      p.notes ? h("p", { class: "notes", id: "profile-notes" }, p.notes) : null,
      edit, form, h("details", { id: "profile-audit" }, h("summary", {}, `Changes (${(p.changes || []).length})`), changesList(p.changes)));
  };
})();
