package js

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"strings"
	"testing"
)

// maxGzip is the size budget of widget.js, gzipped at the best compression.
const maxGzip = 15 * 1024

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := fs.ReadFile(FS, name)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	if len(b) == 0 {
		tb.Fatalf("%s is empty", name)
	}
	return b
}

func TestFS_Embedded(t *testing.T) {
	for _, name := range []string{"widget.js", "demo.html"} {
		t.Run(name, func(t *testing.T) { mustRead(t, name) })
	}
}

func TestWidget_GzipSize(t *testing.T) {
	src := mustRead(t, "widget.js")
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("widget.js: %d bytes, %d gzipped (budget %d)", len(src), buf.Len(), maxGzip)
	if got := buf.Len(); got > maxGzip {
		t.Errorf("widget.js gzipped = %d bytes, want <= %d", got, maxGzip)
	}
}

// TestWidget_Safe guards the rules the widget lives by: no HTML parsing of data,
// no code from strings, and ASCII only so the host page's charset cannot garble it.
func TestWidget_Safe(t *testing.T) {
	src := string(mustRead(t, "widget.js"))
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('on"} {
		if strings.Contains(src, bad) {
			t.Errorf("widget.js contains %q", bad)
		}
	}
	for i, r := range src {
		if r > 0x7e || (r < 0x20 && r != '\n' && r != '\t') {
			t.Fatalf("widget.js has non-ASCII or control character %U at byte %d", r, i)
		}
	}
}

func TestDemo_Placeholders(t *testing.T) {
	demo := string(mustRead(t, "demo.html"))
	for _, want := range []string{
		// The page's own script is relative: the server never writes a
		// URL it took from the request into it.
		`<script src="/widget.js" data-site="{{SITE}}" async></script>`,
		`&lt;script src="{{PARLEY_ORIGIN}}/widget.js" data-site="{{SITE}}" async&gt;&lt;/script&gt;`,
	} {
		if !strings.Contains(demo, want) {
			t.Errorf("demo.html lacks %s", want)
		}
	}
}
