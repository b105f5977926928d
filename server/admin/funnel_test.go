package admin_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
)

// TestAdminAPI_Funnel: a story's funnel over the known data: every
// session opened reached welcome, the two leads ask_email and the goal;
// the drop-off between them; the conversion per bot version.
func TestAdminAPI_Funnel(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	period := "from=" + admintest.Day(0).Format(time.RFC3339) + "&to=" + admintest.Day(8).Format(time.RFC3339)
	type step struct {
		Block       string
		Sessions    int64
		Share       float64
		DropOff     int64
		DropOffRate float64
	}
	var f struct {
		Bot            string
		Opened         int
		Converted      int
		ConversionRate float64
		Blocks         []step
		Goals          []struct {
			Goal     string
			Sessions int64
			Rate     float64
		}
		Versions []struct {
			Bot, Version      string
			Opened, Converted int
			ConversionRate    float64
		}
	}
	getJSON(t, ts, "/admin/api/funnel?bot=demo&"+period, &f)
	wantBlocks := []step{{"welcome", 8, 1, 0, 0}, {"ask_email", 2, 0.25, 6, 0.75}}
	if f.Bot != "demo" || f.Opened != 8 || f.Converted != 2 || f.ConversionRate != 0.25 || !reflect.DeepEqual(f.Blocks, wantBlocks) {
		t.Errorf("funnel: %+v", f)
	}
	if len(f.Goals) != 1 || f.Goals[0].Goal != "lead" || f.Goals[0].Sessions != 2 || f.Goals[0].Rate != 0.25 {
		t.Errorf("goals: %+v", f.Goals)
	}
	if len(f.Versions) != 1 || f.Versions[0].Bot != "demo" || f.Versions[0].Opened != 8 || f.Versions[0].Converted != 2 {
		t.Errorf("versions: %+v", f.Versions)
	}
	// Another story has none of these sessions; the conversion per version
	// still lists every bot's.
	getJSON(t, ts, "/admin/api/funnel?bot=other&"+period, &f)
	if f.Opened != 0 || len(f.Blocks) != 0 || len(f.Versions) != 1 {
		t.Errorf("other bot: %+v", f)
	}
	for _, tt := range []struct{ query, param string }{
		{period, "bot"},
		{"bot=demo&from=2025-03-10T00:00:00Z&to=2025-03-01T00:00:00Z", "from"},
		{"bot=demo&from=1990-01-01T00:00:00Z&to=2025-03-01T00:00:00Z", "from"},
	} {
		resp, body := do(t, "GET", ts.URL+"/admin/api/funnel?"+tt.query, auth)
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"param":"`+tt.param+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.query, resp.StatusCode, body, tt.param)
		}
	}
}
