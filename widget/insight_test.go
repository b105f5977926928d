package widget_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// transcript reads a session back from the store, as the admin does.
func (e *env) transcript(id string) (*storage.Session, []storage.Message) {
	e.tb.Helper()
	sess, msgs, err := e.store.Transcript(context.Background(), id)
	if err != nil {
		e.tb.Fatal(err)
	}
	return sess, msgs
}

// visitorTexts returns the session's visitor messages in order.
func visitorTexts(msgs []storage.Message) []storage.Message {
	var out []storage.Message
	for _, m := range msgs {
		if m.From == storage.FromVisitor {
			out = append(out, m)
		}
	}
	return out
}

// TestInsight_SentimentAndUnanswered talks to the demo story over a real
// socket: free text the menu did not ask for is answered by the fallback
// (unanswered) and scored; a typed option label is the click (neither);
// a text input is a value the story asked for (neither). The store keeps each on its
// message, the session's state, the visitor, the dashboard's filters and
// the Knowledge gaps report.
func TestInsight_SentimentAndUnanswered(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	welcome := c.MustHello(widgettest.Hello{Lang: "en-GB"})
	c.ExpectPrompt()
	c.MustText("c1", "This is useless, I just want to talk to someone!!!")
	c.Expect("ack")
	if p := c.ExpectPrompt(); p.Block != "menu" {
		t.Fatalf("after free text: prompt %q, want the menu again", p.Block)
	}
	c.MustText("c2", "pricing") // the label of the menu's option
	c.Expect("ack")
	c.UntilPrompt("ask_name")
	c.MustText("c3", "Thanks, you are great")
	c.Expect("ack")
	c.UntilPrompt("ask_email")

	sess, msgs := e.transcript(welcome.Session)
	vm := visitorTexts(msgs)
	if len(vm) != 3 {
		t.Fatalf("%d visitor messages, want 3", len(vm))
	}
	if m := vm[0]; m.Kind != storage.KindText || !m.Unanswered || m.Sentiment == nil || m.Sentiment.Label != storage.SentimentNegative {
		t.Errorf("free text: %+v, sentiment %+v; want unanswered and negative", m, m.Sentiment)
	}
	if m := vm[1]; m.Kind != storage.KindChoice || m.Unanswered || m.Sentiment != nil {
		t.Errorf("typed option: %+v; want a choice, neither scored nor unanswered", m)
	}
	if m := vm[2]; m.Kind != storage.KindInput || m.Unanswered || m.Sentiment != nil {
		t.Errorf("text input: %+v, sentiment %+v; want answered, not scored", m, m.Sentiment)
	}
	st := sess.State
	if st.Sentiment == nil || st.Sentiment.Label != storage.SentimentNegative || st.Sentiment.Scored != 1 ||
		st.Sentiment.Last.Label != storage.SentimentNegative || !st.Sentiment.Last.At.Equal(vm[0].At) {
		t.Errorf("session sentiment %+v: want negative, the last expression the free text", st.Sentiment)
	}
	if len(sess.Gaps) != 1 || sess.Gaps[0].Text != vm[0].Text || !sess.Gaps[0].At.Equal(vm[0].At) || st.UnansweredCount != 1 {
		t.Errorf("gaps %+v (count %d), want the free text", sess.Gaps, st.UnansweredCount)
	}
	v, err := e.store.Visitor(context.Background(), welcome.Visitor)
	if err != nil {
		t.Fatal(err)
	}
	if v.LastSentiment == nil || *v.LastSentiment != st.Sentiment.Last {
		t.Errorf("visitor's latest sentiment %+v, want %+v", v.LastSentiment, st.Sentiment.Last)
	}

	for _, q := range []storage.SessionQuery{{Unanswered: true}, {Sentiment: storage.SentimentNegative}, {Sentiment: storage.SentimentNegative, Unanswered: true, Bot: "demo"}} {
		p, err := e.store.Sessions(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 1 || p.Items[0].Session.ID != welcome.Session {
			t.Errorf("%+v: %d sessions, want this one", q, len(p.Items))
		}
	}
	if p, _ := e.store.Sessions(context.Background(), storage.SessionQuery{Sentiment: storage.SentimentPositive}); len(p.Items) != 0 {
		t.Errorf("sentiment=positive lists %d sessions, want none", len(p.Items))
	}
	rep, err := e.store.Gaps(context.Background(), storage.GapQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) != 1 || rep.Items[0].Key != "this is useless i just want to talk to someone" || rep.Items[0].Count != 1 ||
		len(rep.Items[0].SessionIDs) != 1 || rep.Items[0].SessionIDs[0] != welcome.Session {
		t.Errorf("gaps %+v", rep.Items)
	}
}

// TestInsight_OtherLanguage: a session whose hello names another language
// is unknown, not guessed; its texts still count as unanswered.
func TestInsight_OtherLanguage(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	welcome := c.MustHello(widgettest.Hello{Lang: "de"})
	c.ExpectPrompt()
	c.MustText("c1", "Das ist schrecklich, ich hasse das")
	c.Expect("ack")
	c.ExpectPrompt()
	sess, msgs := e.transcript(welcome.Session)
	m := visitorTexts(msgs)[0]
	if m.Sentiment == nil || m.Sentiment.Label != storage.SentimentUnknown || m.Sentiment.Score != 0 || !m.Unanswered {
		t.Errorf("German text: sentiment %+v, unanswered %v; want unknown and unanswered", m.Sentiment, m.Unanswered)
	}
	if s := sess.State.Sentiment; s == nil || s.Label != storage.SentimentUnknown || s.Scored != 0 {
		t.Errorf("session sentiment %+v, want unknown", s)
	}
	if p, _ := e.store.Sessions(context.Background(), storage.SessionQuery{Sentiment: storage.SentimentUnknown}); len(p.Items) != 1 {
		t.Errorf("sentiment=unknown lists %d sessions, want 1", len(p.Items))
	}
}

// TestInsight_SentimentOff: a site that switched scoring off stores no
// sentiment anywhere, and still notes unanswered texts.
func TestInsight_SentimentOff(t *testing.T) {
	site := demoSite()
	site.SentimentOff = true
	e := mustEnvSite(t, widget.Config{}, site)
	c := e.dial(widgettest.NewJar())
	welcome := c.MustHello(widgettest.Hello{Lang: "en"})
	c.ExpectPrompt()
	c.MustText("c1", "I hate this bot")
	c.Expect("ack")
	c.ExpectPrompt()
	sess, msgs := e.transcript(welcome.Session)
	m := visitorTexts(msgs)[0]
	if m.Sentiment != nil || sess.State.Sentiment != nil || !m.Unanswered || len(sess.Gaps) != 1 {
		t.Errorf("sentiment off: message %+v, session %+v; want no sentiment, one unanswered text", m, sess.State)
	}
}
