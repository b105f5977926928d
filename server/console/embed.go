// Package console holds the admin console's static files: plain HTML, CSS
// and JavaScript, embedded so the Go binary serves them without a build
// step. The console keeps the admin token in sessionStorage and calls the
// admin API with it as a Bearer header.
package console

import "embed"

// FS holds index.html, app.css, app.js, chart.js and the pages in files
// of their own (profile.js, funnel.js, webhooks.js, gaps.js; inbox.js
// and inbox.css, the live inbox; agents.js).
//
//go:embed index.html app.css app.js chart.js profile.js funnel.js webhooks.js gaps.js inbox.js inbox.css agents.js
var FS embed.FS
