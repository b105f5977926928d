// Package js holds the browser side of Parley: the embeddable chat widget and
// the demo host page. They are plain files embedded into the binary, so
// building Parley needs no bundler and no JavaScript toolchain.
package js

import "embed"

// FS holds widget.js, the embeddable chat widget served at /widget.js, and
// demo.html, the demo host page served at / after the server replaces the
// placeholders {{PARLEY_ORIGIN}} and {{SITE}} in it.
//
//go:embed widget.js demo.html
var FS embed.FS
