package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// maxProfileBody bounds a profile edit's JSON body.
const maxProfileBody = 16 << 10

// maxProfileName caps an edited name, in characters.
const maxProfileName = 200

// profileChanges is how many of the newest profile changes a profile shows.
const profileChanges = 50

// profileEditJSON is the body of PATCH /admin/api/users/{id}: a field left
// out stays as it is; "" or null clears it.
type profileEditJSON struct {
	Name  optString `json:"name"`
	Email optString `json:"email"`
	Phone optString `json:"phone"`
	Notes optString `json:"notes"`
}

// optString is a field that may be left out (set is false), null or a
// string (null clears it, as "" does).
type optString struct {
	set bool
	v   string
}

// UnmarshalJSON runs for null too, which is how null differs from absent.
func (o *optString) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.v = ""
		return nil
	}
	if err := json.Unmarshal(b, &o.v); err != nil {
		return errors.New("want a string or null")
	}
	return nil
}

// changeJSON is one entry of a profile's audit list.
type changeJSON struct {
	At    string `json:"at"`
	By    string `json:"by"`
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// patchUser serves PATCH /admin/api/users/{id}: it sets the visitor's
// name, email, phone and notes, each validated as the story validates an
// input of its kind (an email address, a phone number in E.164 with the
// site's phone region), records who changed what and when, and answers
// the profile as GET does.
func (a *Admin) patchUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_parameter", "id is not a visitor ID")
		return
	}
	var body profileEditJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxProfileBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		a.errs.Error(w, r, http.StatusBadRequest, "bad_body", "the body is not a JSON object of name, email, phone and notes: "+err.Error())
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		a.errs.Error(w, r, http.StatusBadRequest, "bad_body", "trailing data after the JSON object")
		return
	}
	v, err := a.store.Visitor(r.Context(), id)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	edit, bad := a.validateEdit(v.Site, &body)
	if bad != nil {
		a.errs.Param(w, r, http.StatusBadRequest, bad.code, bad.field, bad.msg)
		return
	}
	edit.By, edit.At = a.actor(r), a.now()
	if v, err = a.store.EditProfile(r.Context(), id, edit); err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	a.log.Info("visitor profile edited", "visitor", id, "by", edit.By)
	a.writeProfile(w, r, v)
}

// actor names who made a change through the admin API: the signed-in
// agent, or "admin" for the holder of the admin token.
func (a *Admin) actor(r *http.Request) string {
	if p := PrincipalOf(r); p != nil {
		return p.Name()
	}
	return "admin"
}

// validateEdit checks each field given and returns the edit, or the
// field at fault.
func (a *Admin) validateEdit(site string, body *profileEditJSON) (storage.ProfileEdit, *editError) {
	var e storage.ProfileEdit
	opts := a.inputOptions(site)
	for _, f := range []struct {
		name, kind string
		in         optString
		out        **string
	}{
		{"name", "text", body.Name, &e.Name},
		{"email", "email", body.Email, &e.Email},
		{"phone", "phone", body.Phone, &e.Phone},
	} {
		if !f.in.set {
			continue
		}
		v := strings.TrimSpace(storage.CleanText(f.in.v))
		if v != "" {
			o := opts
			o.MaxText = maxProfileName
			var err error
			if v, err = story.ValidateInput(f.kind, v, o); err != nil {
				if se := (*story.Error)(nil); errors.As(err, &se) {
					return e, &editError{f.name, se.Code, se.Message}
				}
				return e, &editError{f.name, "invalid_" + f.name, err.Error()}
			}
		}
		*f.out = &v
	}
	if body.Notes.set {
		n := storage.CleanText(body.Notes.v)
		if len(n) > storage.MaxNotesLen {
			return e, &editError{"notes", "too_long", fmt.Sprintf("at most %d bytes", storage.MaxNotesLen)}
		}
		e.Notes = &n
	}
	return e, nil
}

// editError is a field of a profile edit refused: the body's field name,
// the error code (as the widget's for an input of its kind) and why.
type editError struct{ field, code, msg string }

// inputOptions are the site's input rules (its phone region), for
// validating edits as its story validates inputs.
func (a *Admin) inputOptions(site string) story.InputOptions {
	if a.inputs == nil {
		return story.InputOptions{}
	}
	return a.inputs(site)
}

// writeProfile answers the visitor's profile with its newest changes.
func (a *Admin) writeProfile(w http.ResponseWriter, r *http.Request, v *storage.Visitor) {
	changes, err := a.store.ProfileChanges(r.Context(), v.ID, profileChanges)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	p := toProfile(v)
	p.Changes = make([]changeJSON, len(changes))
	for i, c := range changes {
		p.Changes[i] = changeJSON{At: stamp(c.At), By: c.By, Field: c.Field, From: c.From, To: c.To}
	}
	respond.JSON(w, http.StatusOK, p)
}
