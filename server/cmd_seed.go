package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/sentiment"
)

func init() {
	commands["seed"] = command{"fill a store with realistic demo data (visitors, sessions, files over a year)", runSeed}
}

// SeedOptions say what `parley seed` writes.
type SeedOptions struct {
	Visitors int            // visitors to add
	Site     string         // their site
	Days     int            // the period the data spreads over, ending at End
	End      time.Time      // the end of the period (now)
	Seed     uint64         // the random seed: the same seed writes the same story
	Workers  int            // generating goroutines (GOMAXPROCS when 0)
	Progress func(done int) // after each visitor, one call at a time, done counting up
}

// SeedStats count what Seed wrote.
type SeedStats struct {
	Visitors, Sessions, Messages, Files int64
}

func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("seed", stderr)
	o := SeedOptions{End: time.Now().UTC()}
	dir := fs.String("data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory to fill (PARLEY_DATA); Parley must not be running on it")
	fs.IntVar(&o.Visitors, "visitors", 1000, "visitors to add, each with several sessions")
	fs.StringVar(&o.Site, "site", "demo", "the site the visitors belong to")
	fs.IntVar(&o.Days, "days", 365, "days the data spreads over, up to now")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Visitors < 1 || o.Days < 1 {
		return errors.New("--visitors and --days must be at least 1")
	}
	store, err := storage.Open(*dir, storage.Options{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return explainOpenError(*dir, err)
	}
	start := time.Now()
	step := max(o.Visitors/20, 1)
	o.Progress = func(done int) {
		if done%step == 0 {
			fmt.Fprintf(stdout, "seed: %d/%d visitors (%s)\n", done, o.Visitors, time.Since(start).Round(time.Second))
		}
	}
	st, err := Seed(ctx, store, o)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seed: wrote %d visitors, %d sessions, %d messages, %d files to %s in %s\n",
		st.Visitors, st.Sessions, st.Messages, st.Files, *dir, time.Since(start).Round(time.Millisecond))
	return nil
}

// Seed adds o.Visitors made-up visitors to store through a storage.Bulk:
// each with one to seven sessions spread over o.Days, running the demo
// story (a choice, a name, an email, a phone, sometimes a small file, the
// lead goal) or a short support bot, and stopping anywhere on the way, as
// real visitors do. Files are stored with their bytes, so they download.
func Seed(ctx context.Context, store *storage.Store, o SeedOptions) (SeedStats, error) {
	var st SeedStats
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	// Index what the store holds first (nothing for a new store), so the
	// marker is set and the server does not index everything again.
	if _, err := store.BuildIndexes(ctx); err != nil {
		return st, fmt.Errorf("seed: %w", err)
	}
	bulk := store.NewBulk()
	var next atomic.Int64
	var done int      // visitors written, under mu
	var mu sync.Mutex // guards st, done and o.Progress
	var wg sync.WaitGroup
	errc := make(chan error, o.Workers)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.Visitors) || ctx.Err() != nil {
					return
				}
				g := seedGen{r: rand.New(rand.NewPCG(o.Seed, uint64(i))), o: &o}
				v, sessions, fileData := g.visitor()
				for _, f := range fileData {
					if err := bulk.AddFile(f.file, f.data); err != nil {
						errc <- err
						return
					}
				}
				if err := bulk.Add(v, sessions); err != nil {
					errc <- err
					return
				}
				st.add(&mu, sessions, len(fileData))
				if o.Progress != nil {
					mu.Lock() // one call at a time: it writes to the caller's output
					done++
					o.Progress(done)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	err := errors.Join(<-errc, ctx.Err())
	if cerr := bulk.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("seed: %w", err)
	}
	return st, nil
}

func (st *SeedStats) add(mu *sync.Mutex, sessions []storage.BulkSession, files int) {
	var msgs int64
	for _, s := range sessions {
		for _, t := range s.Turns {
			msgs += int64(len(t.Messages))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	st.Visitors++
	st.Sessions += int64(len(sessions))
	st.Messages += msgs
	st.Files += int64(files)
}

// seedGen makes up one visitor from its own random source.
type seedGen struct {
	r *rand.Rand
	o *SeedOptions
}

type seedFile struct {
	file *storage.File
	data []byte
}

var (
	seedFirst   = strings.Fields("Anna Ben Clara David Emma Felix Greta Hugo Ida Jonas Kira Leon Mia Noah Olga Paul Quinn Rosa Sam Tara Uwe Vera Wim Xenia Yara Zoe Ali Bea Carl Dora Emil Fatma Gino Hana Ivan Jana Karl Lena Mats Nina")
	seedLast    = strings.Fields("Müller Schmidt Weber Fischer Meyer Wagner Becker Hoffmann Koch Richter Klein Wolf Schröder Neumann Braun Zimmermann Krüger Hartmann Lange Werner")
	seedDomains = []string{"gmail.com", "mail.de", "outlook.com", "proton.me", "example.com", "web.de"}
	// seedTexts are what visitors type that no question asked for: the
	// Knowledge gaps report's questions, in several spellings, and the
	// tones the sentiment filter tells apart.
	seedTexts = []string{"hello?", "How much does it cost?", "how much does it cost", "Can I talk to a human?", "ok", "thanks!",
		"Do you ship to Austria?", "do you ship to austria", "Pricing?", "pricing", "How do I reset my password?",
		"This is useless, I just want to talk to someone!!!", "Thanks, that was really helpful :)", "not happy with my order 😡",
		"WHERE IS MY ORDER", "Great service, love it!", "Is there a student discount?"}
	// seedTextsDE are the texts of a visitor whose language is not
	// English: not scored (sentiment unknown), still unanswered.
	seedTextsDE = []string{"Was kostet das?", "Ich möchte mit einem Menschen sprechen", "Danke!", "Liefert ihr nach Österreich?"}
	seedDevices = []storage.Device{
		{OS: "Windows 10", Browser: "Chrome 120"}, {OS: "Windows 11", Browser: "Edge 121"},
		{OS: "macOS 14", Browser: "Safari 17"}, {OS: "macOS 14", Browser: "Chrome 121"},
		{OS: "Linux", Browser: "Firefox 122"}, {OS: "iOS 17", Browser: "Safari 17", Mobile: true},
		{OS: "Android 14", Browser: "Chrome 121", Mobile: true}, {OS: "Android 13", Browser: "Samsung Internet 23", Mobile: true},
	}
)

func (g *seedGen) pick(l []string) string { return l[g.r.IntN(len(l))] }
func (g *seedGen) chance(p float64) bool  { return g.r.Float64() < p }

// visitor makes up a visitor, its sessions with their turns, and the files
// they upload.
func (g *seedGen) visitor() (*storage.Visitor, []storage.BulkSession, []seedFile) {
	span := time.Duration(g.o.Days) * 24 * time.Hour
	created := g.o.End.Add(-time.Duration(g.r.Int64N(int64(span)))).Truncate(time.Millisecond)
	dev := seedDevices[g.r.IntN(len(seedDevices))]
	v := &storage.Visitor{ID: storage.NewID(created), Site: g.o.Site, Channel: "web", Device: dev, CreatedAt: created, LastSeenAt: created}
	p := seedPerson{first: g.pick(seedFirst), last: g.pick(seedLast)}
	p.email = strings.ToLower(fmt.Sprintf("%s.%s%d@%s", p.first, asciiOnly(p.last), g.r.IntN(100), g.pick(seedDomains)))
	p.phone = fmt.Sprintf("+49 1%d %07d", 50+g.r.IntN(30), g.r.IntN(10000000))
	p.lang, p.locale = g.locale()

	var sessions []storage.BulkSession
	var files []seedFile
	n := []int{1, 1, 1, 2, 2, 3, 3, 4, 5, 7}[g.r.IntN(10)]
	at := created
	for range n {
		sess, turns, f := g.session(v, p, at)
		sessions = append(sessions, storage.BulkSession{Session: sess, Turns: turns})
		files = append(files, f...)
		// The next visit: from an hour to a few weeks later.
		at = sessionEnd(sess, turns).Add(time.Hour + time.Duration(g.r.ExpFloat64()*float64(10*24*time.Hour)))
		if !at.Before(g.o.End) {
			break
		}
	}
	return v, sessions, files
}

type seedPerson struct{ first, last, email, phone, lang, locale string }

// seedLocales are visitors' languages as a European shop sees them: the
// locale each browser reports, weighted; "" is a browser that names none.
var seedLocales = []struct {
	locale string
	weight int
}{
	{"en-us", 22}, {"en-gb", 12}, {"en", 6}, {"de-de", 18}, {"de-at", 4}, {"de-ch", 3}, {"fr-fr", 6}, {"fr-ch", 1},
	{"es-es", 4}, {"nl-nl", 3}, {"it-it", 3}, {"pl-pl", 2}, {"pt-br", 2}, {"tr-tr", 1}, {"", 3},
}

// locale picks a visitor's locale and its language.
func (g *seedGen) locale() (lang, locale string) {
	total := 0
	for _, l := range seedLocales {
		total += l.weight
	}
	n := g.r.IntN(total)
	for _, l := range seedLocales {
		if n -= l.weight; n < 0 {
			locale = l.locale
			break
		}
	}
	lang, _, _ = strings.Cut(locale, "-")
	return lang, locale
}

func asciiOnly(s string) string {
	return strings.NewReplacer("ü", "ue", "ö", "oe", "ä", "ae").Replace(s)
}

func sessionEnd(s *storage.Session, turns []*storage.Turn) time.Time {
	end := s.StartedAt
	for _, t := range turns {
		for _, m := range t.Messages {
			if m.At.After(end) {
				end = m.At
			}
		}
	}
	return end
}

// session plays one visit: the demo story most of the time, a support bot
// sometimes, stopping wherever the visitor loses interest.
func (g *seedGen) session(v *storage.Visitor, p seedPerson, start time.Time) (*storage.Session, []*storage.Turn, []seedFile) {
	bot, version, typ := "demo", "1", "lead"
	if start.After(g.o.End.AddDate(0, 0, -g.o.Days/3)) {
		version = "2" // a new version went live a third of the way from the end
	}
	if g.chance(0.2) {
		bot, version, typ = "support", "1", "support"
	}
	channel := "web"
	if g.chance(0.1) {
		channel = "app"
	}
	sess := &storage.Session{ID: storage.NewID(start), Site: v.Site, VisitorID: v.ID, Bot: bot, Version: version,
		Channel: channel, Device: v.Device, StartedAt: start, Lang: p.lang, Locale: p.locale, Type: typ}
	w := seedWriter{g: g, sess: sess, at: start}
	if bot == "support" {
		g.support(&w, p)
	} else {
		g.demo(&w, p)
	}
	return sess, w.turns, w.files
}

// seedWriter accumulates a session's turns as the story goes.
type seedWriter struct {
	g     *seedGen
	sess  *storage.Session
	at    time.Time
	st    storage.State
	turns []*storage.Turn
	files []seedFile
	n     int
	steps []storage.Step // the trace since the last bot message
	gaps  int            // unanswered texts kept so far
}

// seedSteps are the seeded stories' blocks as their trace steps.
var seedSteps = map[string]storage.Step{
	"welcome": {Kind: "message"}, "menu": {Kind: "choice"}, "pricing": {Kind: "message"},
	"tag_pricing": {Kind: "tag", Tag: "pricing"}, "ask_name": {Kind: "input"}, "ask_email": {Kind: "input"},
	"tag_test": {Kind: "tag", Tag: "test-address"}, "ask_phone": {Kind: "input"}, "offer_file": {Kind: "choice"},
	"ask_file": {Kind: "upload"}, "got_file": {Kind: "message"}, "lead": {Kind: "goal", Goal: "lead"},
	"bye": {Kind: "end"}, "fallback": {Kind: "message"},
	"hello": {Kind: "message"}, "topic": {Kind: "choice"}, "ask_order": {Kind: "input"}, "ask_contact": {Kind: "input"},
	"ticket": {Kind: "goal", Goal: "ticket"}, "done": {Kind: "message"},
}

// step moves the clock by a human pause.
func (w *seedWriter) step() time.Time {
	w.at = w.at.Add(time.Duration(3+w.g.r.IntN(60)) * time.Second)
	return w.at
}

func (w *seedWriter) reach(block string) {
	w.st.Previous, w.st.Current = w.st.Current, block
	w.st.Reached = append(w.st.Reached, block)
	step := seedSteps[block]
	step.Block = block
	w.steps = append(w.steps, step)
}

// condition runs the demo's condition block on the visitor's value.
func (w *seedWriter) condition(block, variable, value, pattern string, holds bool, then, els string) {
	w.reach(block)
	step := storage.Step{Block: block, Kind: "condition", Variable: variable, Value: value, Op: "matches", Want: pattern,
		Branch: storage.BranchElse, Next: els}
	if holds {
		step.Branch, step.Next = storage.BranchThen, then
	}
	w.steps[len(w.steps)-1] = step
}

// bot says text from block, with the trace since the last bot message;
// prompts set the block pending.
func (w *seedWriter) bot(block, text string, opts ...storage.Option) storage.Message {
	w.reach(block)
	m := storage.Message{From: storage.FromBot, Kind: storage.KindBot, At: w.at, Text: text, Block: block, Options: opts, Trace: w.steps}
	w.steps = nil
	return m
}

// answered starts the trace of the bot's answer with the visitor's.
func answered(next []storage.Message, step storage.Step) {
	if len(next) == 0 {
		return
	}
	step.Answered = true
	if len(next[0].Trace) > 0 {
		step.Next = next[0].Trace[0].Block
	}
	next[0].Trace = append([]storage.Step{step}, next[0].Trace...)
}

// turn records a turn: the visitor's message (if any) and the bot's answers.
func (w *seedWriter) turn(visitor *storage.Message, in *storage.Input, bot ...storage.Message) {
	st := w.st
	st.Variables = cloneVars(w.st.Variables)
	st.Goals, st.Tags, st.Reached = append([]string(nil), w.st.Goals...), append([]string(nil), w.st.Tags...), append([]string(nil), w.st.Reached...)
	t := &storage.Turn{SessionID: w.sess.ID, State: &st}
	if visitor != nil {
		w.n++
		t.ClientID = fmt.Sprintf("c%d", w.n)
		visitor.ClientID = t.ClientID // as the widget sends it: the ack names this message
		t.Messages = append(t.Messages, *visitor)
	} else {
		t.Touch = w.at
	}
	for _, m := range bot {
		m.At = w.at // the bot answers at once
		t.Messages = append(t.Messages, m)
	}
	if in != nil {
		t.Inputs = []storage.Input{*in}
	}
	w.turns = append(w.turns, t)
}

func cloneVars(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (w *seedWriter) setVar(k, v string) {
	if w.st.Variables == nil {
		w.st.Variables = map[string]string{}
	}
	w.st.Variables[k] = v
}

// input is the visitor answering an input block.
func (w *seedWriter) input(block, variable, kind, value string, next ...storage.Message) {
	at := w.step()
	w.setVar(variable, value)
	answered(next, storage.Step{Block: block, Kind: "input", Variable: variable, Value: value})
	w.st.Pending = ""
	m := storage.Message{From: storage.FromVisitor, Kind: storage.KindInput, At: at, Text: value, Block: block, Value: value}
	in := storage.Input{Block: block, Variable: variable, Kind: kind, Value: value, At: at}
	w.turn(&m, &in, next...)
}

// text is the visitor typing what no question asked for, which the
// story's fallback answers: scored and noted unanswered, as the widget
// does.
func (w *seedWriter) text(fallback string) {
	texts := seedTexts
	if !sentiment.English(w.sess.Lang) {
		texts = seedTextsDE
	}
	m := storage.Message{From: storage.FromVisitor, Kind: storage.KindText, At: w.step(), Text: w.g.pick(texts)}
	sentiment.Observe(&w.st, &m, w.sess.Lang)
	gaps := storage.Unanswered(&w.st, &m, w.gaps)
	w.gaps += len(gaps)
	w.turn(&m, nil, w.bot("fallback", fallback))
	w.turns[len(w.turns)-1].Gaps = gaps
}

// choice is the visitor clicking an option.
func (w *seedWriter) choice(block, option, label string, next ...storage.Message) {
	at := w.step()
	answered(next, storage.Step{Block: block, Kind: "choice", Value: label})
	w.st.Pending = ""
	m := storage.Message{From: storage.FromVisitor, Kind: storage.KindChoice, At: at, Text: label, Block: block, Option: option}
	w.turn(&m, nil, next...)
}

// demoPrompt is a bot message that waits for the visitor's answer.
func (w *seedWriter) demoPrompt(block, text string, opts ...storage.Option) storage.Message {
	w.st.Pending = block
	return w.bot(block, text, opts...)
}

// demo plays the built-in demo story (widget/story/demo.json).
func (g *seedGen) demo(w *seedWriter, p seedPerson) {
	w.turn(nil, nil, w.bot("welcome", "Hi! I'm Parley's demo bot. I'll show you what a story can do."),
		w.demoPrompt("menu", "What brings you here?", storage.Option{ID: "demo", Label: "Show me a demo"}, storage.Option{ID: "pricing", Label: "Pricing"}))
	if g.chance(0.3) {
		if g.chance(0.2) {
			w.text("I'm a simple demo bot: please use the buttons or answer the question above.")
		}
		return // opened the widget and left
	}
	var answer []storage.Message
	option, label := "demo", "Show me a demo"
	if g.chance(0.4) {
		option, label = "pricing", "Pricing"
		answer = append(answer, w.bot("pricing", "Parley is free and runs on your own server."))
		w.reach("tag_pricing")
		w.st.Tags = append(w.st.Tags, "pricing")
	}
	answer = append(answer, w.demoPrompt("ask_name", "What's your first name?"))
	w.choice("menu", option, label, answer...)
	if !g.chance(0.8) {
		return
	}
	w.input("ask_name", "first_name", "text", p.first, w.demoPrompt("ask_email", fmt.Sprintf("Nice to meet you, %s! What's your email address?", p.first)))
	if !g.chance(0.75) {
		return
	}
	test := strings.HasSuffix(p.email, "@example.com")
	w.condition("check_test", "email", p.email, `@example\.(com|org)$`, test, "tag_test", "ask_phone")
	if test {
		w.reach("tag_test")
		w.st.Tags = append(w.st.Tags, "test-address")
	}
	w.input("ask_email", "email", "email", p.email, w.demoPrompt("ask_phone", "And a phone number where we can reach you?"))
	if !g.chance(0.6) {
		return
	}
	w.input("ask_phone", "phone", "phone", p.phone, w.demoPrompt("offer_file", "Would you like to send us a file, like a screenshot or a PDF?",
		storage.Option{ID: "yes", Label: "Yes, send a file"}, storage.Option{ID: "no", Label: "No, thanks"}))
	if !g.chance(0.9) {
		return
	}
	if g.chance(0.4) {
		w.choice("offer_file", "yes", "Yes, send a file", w.demoPrompt("ask_file", "Pick an image or a PDF (up to 10 MB)."))
		if !g.chance(0.85) {
			return
		}
		g.upload(w, "ask_file")
	} else {
		w.reach("lead")
		w.st.Goals = append(w.st.Goals, "lead")
		w.st.Ended = true
		w.choice("offer_file", "no", "No, thanks", w.bot("bye", fmt.Sprintf("Thanks %s, we'll be in touch soon. Bye!", p.first)))
		return
	}
	w.step()
	w.reach("lead")
	w.st.Goals = append(w.st.Goals, "lead")
	w.st.Ended = true
	w.turn(nil, nil, w.bot("bye", fmt.Sprintf("Thanks %s, we'll be in touch soon. Bye!", p.first)))
}

// upload is the visitor sending a small file to an upload block.
func (g *seedGen) upload(w *seedWriter, block string) {
	at := w.step()
	name, ctype, data := "screenshot.png", "image/png", seedPNG(g.r)
	if g.chance(0.4) {
		name, ctype, data = "invoice.pdf", "application/pdf", seedPDF(g.r)
	}
	f := &storage.File{ID: storage.NewID(at), Site: w.sess.Site, VisitorID: w.sess.VisitorID, SessionID: w.sess.ID,
		Name: name, Type: ctype, UploadedAt: at, Size: int64(len(data))}
	w.files = append(w.files, seedFile{f, data})
	ref := f.Ref()
	ref.Block = block
	w.setVar("attachment", name)
	w.st.Pending = ""
	m := storage.Message{From: storage.FromVisitor, Kind: storage.KindFile, At: at, Text: name, Block: block, File: &ref}
	next := []storage.Message{w.bot("got_file", "Got it, thanks!")}
	answered(next, storage.Step{Block: block, Kind: "upload", Variable: "attachment", Value: name})
	w.turn(&m, nil, next...)
}

// support plays a short support bot: a topic, an order number, a question.
func (g *seedGen) support(w *seedWriter, p seedPerson) {
	w.turn(nil, nil, w.bot("hello", "Hi, this is support. What is it about?"),
		w.demoPrompt("topic", "Pick a topic", storage.Option{ID: "order", Label: "My order"}, storage.Option{ID: "return", Label: "A return"}))
	if g.chance(0.35) {
		return
	}
	option, label := "order", "My order"
	if g.chance(0.4) {
		option, label = "return", "A return"
		w.st.Tags = append(w.st.Tags, "return")
	}
	w.choice("topic", option, label, w.demoPrompt("ask_order", "What is your order number?"))
	if !g.chance(0.7) {
		return
	}
	w.input("ask_order", "order_number", "text", fmt.Sprintf("A-%06d", g.r.IntN(1000000)),
		w.demoPrompt("ask_contact", "Which email should we answer to?"))
	if !g.chance(0.6) {
		return
	}
	w.reach("ticket")
	w.st.Goals = append(w.st.Goals, "ticket")
	w.input("ask_contact", "email", "email", p.email, w.bot("done", "Thanks! A ticket is open; we answer within a day."))
	if g.chance(0.3) {
		w.text("Thanks, we'll add that to your ticket.")
	}
}

// seedPNG draws a small image of random colours.
func seedPNG(r *rand.Rand) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := range 16 {
		for x := range 24 {
			if (x/4+y/4)%2 == 0 {
				img.Set(x, y, c)
			} else {
				img.Set(x, y, color.White)
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// seedPDF writes a one-page PDF saying an invoice number.
func seedPDF(r *rand.Rand) []byte {
	text := fmt.Sprintf("Invoice %06d", r.IntN(1000000))
	stream := fmt.Sprintf("BT /F1 18 Tf 40 100 Td (%s) Tj ET", text)
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
