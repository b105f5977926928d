package server_test

import "testing"

func TestBrowser_DemoPage(t *testing.T) {
	// The demo page at / runs the widget under its own CSP: the script by
	// a relative URL, the socket to this origin, no frames.
	p := btStartParley(t)
	b := btBrowser(t, browserOptions{})
	b.navigate(p.URL + "/")
	if !btEval[bool](b, `!!document.querySelector("main h1")`) {
		t.Fatal("not the demo page")
	}
	b.open()
	b.waitJS(`__has('bot', 'What brings you here?')`, "the demo story's opening over the socket")
	b.click("button.opt")
	b.waitJS(`__msgs().some(m => m.from === 'visitor' && m.id)`, "the visitor's choice, acked")
}
