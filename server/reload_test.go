package server_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
)

// reloadStory is a small shop story; v2 drops the "ask" block.
func reloadStory(version string, withAsk bool) string {
	ask := `{"id":"ask","kind":"input","input":"text","variable":"name","text":"Your name?","next":"bye"},`
	next := "ask"
	if !withAsk {
		ask, next = "", "bye"
	}
	return `{"bot":"shop","version":"` + version + `","start":"welcome","fallback":"fb","blocks":[
{"id":"welcome","kind":"message","text":"Welcome (v` + version + `)","next":"menu"},
{"id":"menu","kind":"choice","text":"Menu v` + version + `","options":[{"id":"a","label":"Ask me","next":"` + next + `"},{"id":"b","label":"Bye","next":"bye"}]},
` + ask + `
{"id":"bye","kind":"end","text":"Bye"},
{"id":"fb","kind":"message","text":"Please use the buttons.","next":"menu"}]}`
}

// reloadEnv starts a server on a config file naming story.json.
func reloadEnv(t *testing.T) (e *env, dir string, logs *syncBuffer) {
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "story.json"), []byte(reloadStory("1", true)), 0o600)
	os.WriteFile(filepath.Join(dir, "sites.json"), []byte(`{"sites":[{"id":"shop","origins":["http://localhost:*"],"story":"story.json"}]}`), 0o600)
	cfg, err := server.ParseServeFlags([]string{"--config", filepath.Join(dir, "sites.json"), "--data", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	cfg.Logger, cfg.AdminToken = server.NewLogger(logs), adminToken
	s, srv := startServer(t, *cfg)
	return &env{tb: t, s: s, srv: srv}, dir, logs
}

// TestReload_KeepsConversations reloads a changed story under two live
// WebSocket conversations: both go on with the new story on the same
// socket; the one waiting on a removed block goes back to the start. A
// broken story is then refused with its problems logged, and the running
// story stays.
func TestReload_KeepsConversations(t *testing.T) {
	e, dir, logs := reloadEnv(t)
	waiting, browsing := e.visitor("shop"), e.visitor("shop")
	waiting.UntilPrompt("menu")
	browsing.UntilPrompt("menu")
	waiting.MustChoice("w1", "menu", "a")
	waiting.Expect("ack")
	waiting.UntilPrompt("ask")

	os.WriteFile(filepath.Join(dir, "story.json"), []byte(reloadStory("2", false)), 0o600)
	if err := e.s.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// The session waiting on "ask", removed, speaks: back to the start.
	waiting.MustText("w2", "Ann")
	if a := waiting.Expect("ack"); a.Type != "ack" {
		t.Fatal(a)
	}
	if m := waiting.Next(); m.Block != "welcome" || m.Text != "Welcome (v2)" {
		t.Errorf("after the reload the lost session got %+v, want the new start", m)
	}
	if m := waiting.UntilPrompt("menu"); m.Text != "Menu v2" {
		t.Errorf("menu after the reload: %+v", m)
	}
	// The other conversation goes on with the new story.
	browsing.MustChoice("b1", "menu", "a")
	browsing.Expect("ack")
	if m := browsing.Next(); m.Block != "bye" {
		t.Errorf("option a of the new story: %+v, want bye", m)
	}

	t.Run("BrokenRefused", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "story.json"), []byte(strings.Replace(reloadStory("3", true), `"next":"bye"}`, `"next":"bey"}`, 1)), 0o600)
		err := e.s.Reload()
		want := filepath.Join(dir, "story.json") + `:3:130: site shop: block "menu": option "b": next "bey": no such block (did you mean "bye"?)`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("reload of a broken story: %v", err)
		}
		if !strings.Contains(logs.String(), "config reload refused") || !strings.Contains(logs.String(), "no such block") {
			t.Errorf("the refusal is not logged:\n%s", logs)
		}
		v := e.visitor("shop")
		if m := v.Next(); m.Text != "Welcome (v2)" {
			t.Errorf("after a refused reload a new visitor got %+v, want story v2", m)
		}
	})
}
