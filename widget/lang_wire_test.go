package widget_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestSession_Language: the session records the visitor's language and
// locale from hello's lang, else from the handshake's Accept-Language,
// and its story's type.
func TestSession_Language(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	tests := []struct {
		name, hello, accept string
		lang, locale        string
	}{
		{"FromHello", "fr", "de-CH,de;q=0.9", "fr", "fr"},
		{"HelloRegionFromHeader", "de", "de-CH,de;q=0.9", "de", "de-ch"},
		{"FromHeader", "", "pt-BR,pt;q=0.9,en;q=0.5", "pt", "pt-br"},
		{"Neither", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := widgettest.MustDial(t, e.wsURL(), widgettest.Options{
				Origin: testOrigin, Jar: widgettest.NewJar(),
				Header: http.Header{"Accept-Language": {tt.accept}},
			})
			w := c.MustHello(widgettest.Hello{Lang: tt.hello})
			sess, err := e.store.Session(context.Background(), w.Session)
			if err != nil {
				t.Fatal(err)
			}
			if sess.Lang != tt.lang || sess.Locale != tt.locale {
				t.Errorf("session lang, locale = %q, %q; want %q, %q", sess.Lang, sess.Locale, tt.lang, tt.locale)
			}
			if sess.Type != "lead" {
				t.Errorf("session type %q, want the demo story's lead", sess.Type)
			}
		})
	}
}
