package server_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
)

// The payload of a CSV injection that hides its formula behind a list
// separator of another locale (;) and a pipe.
const csvAttack = "Bob;=cmd|' /C calc'!A0;"

func TestAdminExport_FormulaInjection(t *testing.T) {
	e := startEnv(t)
	// A visitor whose User-Agent and first name carry the payload: the
	// browser column (from the User-Agent) and the label (the name).
	v := e.visitorWith("demo", http.Header{"User-Agent": {csvAttack}})
	v.UntilPrompt("menu")
	v.MustChoice("c1", "menu", "demo")
	v.UntilPrompt("ask_name")
	v.MustText("c2", csvAttack)
	v.UntilPrompt("ask_email")

	for _, path := range []string{"/admin/api/users.csv", "/admin/api/sessions.csv"} {
		t.Run(strings.TrimPrefix(path, "/admin/api/"), func(t *testing.T) {
			resp, body := e.get(path, adminHeader)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			raw := string(body)
			if !strings.Contains(raw, `"Bob;'=cmd|' /C calc'!A0;"`) {
				t.Errorf("the name is not quoted and defused:\n%s", raw)
			}
			if path == "/admin/api/users.csv" && !strings.Contains(raw, `"Bob;'=cmd|'"`) {
				t.Errorf("the browser (from the User-Agent) is not quoted and defused:\n%s", raw)
			}
			// Every cell is quoted: a quote-aware reader sees the same
			// cells as one that also requires quotes everywhere.
			rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
			if err != nil || len(rows) != 2 {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
			for _, line := range strings.Split(strings.TrimSuffix(raw, "\n"), "\n") {
				if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) || strings.Count(line, `","`) != len(rows[0])-1 {
					t.Errorf("not every cell quoted: %s", line)
				}
			}
			// A spreadsheet that splits the lines on any separator, quotes
			// or not, finds no cell that starts a formula.
			for _, sep := range []string{",", ";", "\t", "|", "\n"} {
				for _, c := range strings.Split(raw, sep) {
					c = strings.TrimPrefix(strings.TrimLeft(c, " "), `"`)
					if c != "" && strings.ContainsAny(c[:1], "=+-@\t\r") {
						t.Errorf("split on %q: a cell starts a formula: %q", sep, c)
					}
				}
			}
		})
	}
}
