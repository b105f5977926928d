package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/server/notify"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/conffile"
	"github.com/parley-chat/parley/widget/story"
)

// Config is everything `parley serve` needs. Build it with ParseServeFlags
// or by hand in tests; nothing reads the environment behind its back.
type Config struct {
	Addr       string // listen address (default 127.0.0.1:8080)
	DataDir    string // Badger store, keys and admin token (default ./parley-data)
	ConfigFile string // optional JSON file listing sites
	AdminToken string // admin bearer token; generated into DataDir when empty
	SyncWrites bool   // fsync every commit (survives power loss, costs latency)
	DebugAddr  string // if set, pprof is served here (debug.go); never on Addr

	// Store, when set (postgres://…), keeps the records in PostgreSQL
	// instead of Badger in DataDir, which then holds only the keys and
	// the admin token; Postgres tunes its connections.
	Store    string
	Postgres postgres.Options
	// AgentSession is how long an agent's console stays signed in
	// (default admin.DefaultAgentSession).
	AgentSession time.Duration
	// SMTP sends the agents' emails (package notify); off without Addr.
	SMTP notify.Config
	// PublicURL is where people reach Parley, for links in emails
	// (default http://Addr).
	PublicURL string

	// RetentionDays maps a site ID to the days a visitor's data is kept
	// after its last activity, 0 for ever; sites not in it keep
	// DefaultRetentionDays (lifecycle.go).
	RetentionDays map[string]int

	Sites []*widget.Site
	// ConfigWarnings are the config's problems that did not stop it
	// (conffile); runServe logs them.
	ConfigWarnings conffile.Problems
	// ConfigFiles are the config file and its story files, which
	// WatchConfig polls for a change every ConfigPoll (reload.go).
	ConfigFiles []string
	ConfigPoll  time.Duration

	Limits widget.Config
	// UploadLimits bound uploads (quota, concurrency, stalls); a file's
	// size cap is per site (uploadMaxBytes in the config file).
	UploadLimits fileupload.Limits
	// GapScan bounds the unanswered texts one Knowledge gaps report reads
	// (0: storage.DefaultGapScan).
	GapScan int

	// Webhooks are the sites' webhook endpoints; WebhookLimits tune their
	// delivery (Open fills in the store).
	Webhooks      []webhook.Endpoint
	WebhookLimits webhook.Config
	// IdleSweep bounds the sweep that ends timed-out sessions (idle.go).
	IdleSweep IdleSweepConfig
	// Cluster makes the server one of several nodes (cluster.go).
	Cluster ClusterConfig
	// Jobs tunes how nodes sharing a store share the periodic jobs (jobs.go).
	Jobs JobsConfig

	Logger *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// ParseServeFlags reads the serve flags, with PARLEY_* environment twins
// as defaults, and loads the sites from the config file or the built-in demo.
func ParseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := newFlags("serve", stderr)
	cfg := &Config{}
	fs.StringVar(&cfg.Addr, "addr", envOr(getenv, "PARLEY_ADDR", "127.0.0.1:8080"), "listen address (PARLEY_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory (PARLEY_DATA)")
	fs.StringVar(&cfg.Store, "store", getenv("PARLEY_STORE"), "keep the records in PostgreSQL: postgres://user:password@host/db?sslmode=verify-full; empty: Badger in --data (PARLEY_STORE)")
	fs.StringVar(&cfg.ConfigFile, "config", getenv("PARLEY_CONFIG"), "sites config file, JSON (PARLEY_CONFIG)")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", getenv("PARLEY_DEBUG_ADDR"), "serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060; off when empty (PARLEY_DEBUG_ADDR)")
	fs.BoolVar(&cfg.SyncWrites, "sync", getenv("PARLEY_SYNC") == "1", "fsync every write: survives power loss, slower (PARLEY_SYNC=1)")
	poll := limitBinder{fs: fs, getenv: getenv} // limits.go
	cfg.ConfigPoll = DefaultConfigPoll
	poll.dur(&cfg.ConfigPoll, "config-poll", "PARLEY_CONFIG_POLL",
		"how often to check the config and story files for a change that reloads them; -1s: only on SIGHUP")
	poll.dur(&cfg.AgentSession, "agent-session", "PARLEY_AGENT_SESSION",
		"how long an agent's console stays signed in (0: 12h)")
	poll.int(&cfg.Postgres.MaxConns, "store-max-conns", "PARLEY_STORE_MAX_CONNS",
		"PostgreSQL: connections per node (0: 16)")
	poll.dur(&cfg.Postgres.StatementTimeout, "store-statement-timeout", "PARLEY_STORE_STATEMENT_TIMEOUT",
		"PostgreSQL: the longest one statement may run (0: 10s)")
	bindClusterFlags(&poll, &cfg.Cluster)          // cluster.go
	bindSMTPFlags(fs, getenv, cfg)                 // notify.go
	checkLimits := bindLimitFlags(fs, getenv, cfg) // limits.go
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkLimits(); err != nil {
		return nil, err
	}
	if len(poll.errs) > 0 {
		return nil, poll.errs[0]
	}
	if cfg.ConfigPoll == 0 {
		cfg.ConfigPoll = DefaultConfigPoll
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.SMTP.Validate(); err != nil {
		return nil, err
	}
	cfg.AdminToken = getenv("PARLEY_ADMIN_TOKEN")
	sc, ps := LoadConfig(cfg.ConfigFile)
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("the config has errors:\n%w", err)
	}
	cfg.Sites, cfg.RetentionDays, cfg.ConfigWarnings, cfg.ConfigFiles = sc.Sites, sc.RetentionDays, ps.Warnings(), sc.Files
	cfg.Webhooks = sc.Webhooks
	return cfg, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// DemoSite is the built-in site "demo" that serves pages on localhost.
func DemoSite() *widget.Site {
	return &widget.Site{
		ID: "demo", Name: "Parley demo",
		Origins:          []string{"http://localhost:*", "http://127.0.0.1:*"},
		Story:            story.Demo(),
		SessionTimeout:   30 * time.Minute,
		Input:            story.InputOptions{PhoneRegion: "DE"},
		UploadMaxBytes:   10 << 20,
		FreeUploadAccept: []string{"image/*", "application/pdf"},
	}
}

// siteFile is one site in the config file.
type siteFile struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Origins          []string `json:"origins"`
	Story            string   `json:"story"` // a path relative to the config file, or "builtin:demo"
	SessionTimeout   string   `json:"sessionTimeout"`
	HandoverTimeout  string   `json:"handoverTimeout"`
	PhoneRegion      string   `json:"phoneRegion"`
	TextLimit        int      `json:"textLimit"`
	UploadMaxBytes   int64    `json:"uploadMaxBytes"`
	FreeUploads      bool     `json:"freeUploads"`
	FreeUploadAccept []string `json:"freeUploadAccept"`
	RetentionDays    *int     `json:"retentionDays"`
	// IdentitySecret turns identify on (widget/identify.go): the secret
	// itself, or "env:NAME" to read it from the environment.
	IdentitySecret string `json:"identitySecret"`
	// Webhooks are the site's webhook endpoints (config_webhooks.go).
	Webhooks  []webhookFile `json:"webhooks"`
	Sentiment *bool         `json:"sentiment"` // score the tone of visitor texts; default true
}

// SiteConfig is what a config file sets up.
type SiteConfig struct {
	Sites []*widget.Site
	// RetentionDays holds the retentionDays of the sites that set it.
	RetentionDays map[string]int
	// Files are the config file and the story files it names, which a
	// change reloads (reload.go).
	Files []string
	// Webhooks are the endpoints of every site, validated.
	Webhooks []webhook.Endpoint
}

// LoadConfig reads the config file at path and the stories it names; an
// empty path means the built-in demo site. It returns every problem (see
// CheckConfig); the config is nil when any is an error.
func LoadConfig(path string) (*SiteConfig, conffile.Problems) {
	if path == "" {
		return &SiteConfig{Sites: []*widget.Site{DemoSite()}}, nil
	}
	return CheckConfig(path)
}

// CheckConfig reads the config file at path and every story it names and
// reports every problem at once, each with its file, line and column, the
// site (and block) and, for a near-miss name, the one probably meant:
// errors (the config cannot be used) and warnings (it can, but something
// looks wrong). The config is nil when there are errors.
func CheckConfig(path string) (*SiteConfig, conffile.Problems) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, conffile.Problems{{File: path, Msg: fmt.Sprintf("cannot read the config: %v", err)}}
	}
	doc, ps := conffile.Parse(path, b)
	if doc == nil {
		return nil, ps
	}
	var siteNodes []*conffile.Node
	if doc.Root.Kind != conffile.Object {
		return nil, conffile.Problems{doc.Errorf(doc.Root.Off, "", `a config is a JSON object: {"sites": […]}`)}
	}
	for _, f := range doc.Root.Fields {
		if f.Name != "sites" {
			ps = append(ps, doc.Errorf(f.Off, "", "unknown field %q%s", f.Name, conffile.DidYouMean(f.Name, []string{"sites"})))
		}
	}
	switch sites := doc.Root.Get("sites"); {
	case sites == nil || sites.Kind == conffile.Array && len(sites.Elems) == 0:
		ps = append(ps, doc.Errorf(conffile.At(doc.Root, "sites"), "", `no sites: list them in "sites": […]`))
	case sites.Kind != conffile.Array:
		ps = append(ps, doc.Errorf(sites.Off, "", "sites: want a list […] of sites"))
	default:
		siteNodes = sites.Elems
	}
	out := &SiteConfig{RetentionDays: map[string]int{}, Files: []string{path}}
	seen := map[string]bool{}
	for i, n := range siteNodes {
		where := fmt.Sprintf("site #%d", i+1)
		if id := n.Get("id"); id != nil && id.Kind == conffile.String && id.Str != "" {
			where = "site " + id.Str
		}
		var sf siteFile
		ps = append(ps, doc.Decode(n, &sf, where)...)
		site, storyFile, sps := sf.check(doc, n, filepath.Dir(path), where)
		ps = append(ps, sps...)
		if storyFile != "" {
			out.Files = append(out.Files, storyFile)
		}
		if site == nil {
			continue
		}
		if seen[site.ID] {
			ps = append(ps, doc.Errorf(conffile.At(n, "id"), where, "duplicate id: another site above has it"))
		}
		seen[site.ID] = true
		out.Sites = append(out.Sites, site)
		eps, wps := checkWebhooks(doc, n, site.ID, sf.Webhooks, where)
		ps = append(ps, wps...)
		out.Webhooks = append(out.Webhooks, eps...)
		if sf.RetentionDays != nil {
			out.RetentionDays[site.ID] = *sf.RetentionDays
		}
	}
	ps = ps.Sorted()
	if len(ps.Errors()) > 0 {
		return nil, ps
	}
	return out, ps
}

// misspelt reports whether object n has an unknown field that is a near
// miss of name: decode reported it, and saying name is missing too would
// only repeat it.
func misspelt(n *conffile.Node, name string) bool {
	for _, f := range n.Fields {
		if f.Name != name && conffile.Nearest(f.Name, []string{name}) == name {
			return true
		}
	}
	return false
}

// check turns a decoded site into a widget.Site, with every problem of
// its values and its story; storyFile is the story's path, if a file.
func (sf siteFile) check(doc *conffile.Doc, n *conffile.Node, dir, where string) (site *widget.Site, storyFile string, ps conffile.Problems) {
	bad := func(field, format string, a ...any) {
		ps = append(ps, doc.Errorf(conffile.At(n, field), where, format, a...))
	}
	if sf.ID == "" || strings.ContainsAny(sf.ID, "/ ?&#") {
		bad("id", "id must be set and contain no '/', space, '?', '&' or '#'")
	}
	if len(sf.Origins) == 0 && !misspelt(n, "origins") {
		bad("origins", "no allowed origins: list the pages' origins in \"origins\", e.g. [\"https://example.org\"]")
	}
	for i, o := range sf.Origins {
		if scheme, host, ok := strings.Cut(o, "://"); !ok || (scheme != "http" && scheme != "https") || host == "" || strings.Contains(host, "/") {
			at := n.Offset("origins", i)
			ps = append(ps, doc.Errorf(at, where, "origin %q: want scheme://host[:port], e.g. https://example.org", o))
		}
	}
	s := DemoSite()
	s.ID, s.Name, s.Origins = sf.ID, sf.Name, sf.Origins
	switch sf.Story {
	case "", "builtin:demo":
	default:
		storyFile = sf.Story
		if !filepath.IsAbs(storyFile) {
			storyFile = filepath.Join(dir, storyFile)
		}
		if _, err := os.Stat(storyFile); err != nil {
			bad("story", "story %q: %v (a path relative to the config file, or builtin:demo)", sf.Story, err)
			break
		}
		st, sps := story.CheckFile(storyFile)
		ps = append(ps, sps.Within(where)...)
		s.Story = st
	}
	if sf.SessionTimeout != "" {
		d, err := time.ParseDuration(sf.SessionTimeout)
		if err != nil || d <= 0 {
			bad("sessionTimeout", "sessionTimeout %q: want a positive duration like 30m", sf.SessionTimeout)
		}
		s.SessionTimeout = d
	}
	if sf.HandoverTimeout != "" {
		d, err := time.ParseDuration(sf.HandoverTimeout)
		if err != nil || d <= 0 {
			bad("handoverTimeout", "handoverTimeout %q: want a positive duration like 3m", sf.HandoverTimeout)
		}
		s.HandoverTimeout = d
	}
	if sf.PhoneRegion != "" {
		s.Input.PhoneRegion = strings.ToUpper(sf.PhoneRegion)
	}
	if sf.TextLimit < 0 {
		bad("textLimit", "textLimit is negative")
	}
	s.Input.MaxText = sf.TextLimit
	if sf.UploadMaxBytes < 0 {
		bad("uploadMaxBytes", "uploadMaxBytes is negative")
	}
	if sf.UploadMaxBytes > 0 {
		s.UploadMaxBytes = sf.UploadMaxBytes
	}
	s.FreeUploads = sf.FreeUploads
	s.SentimentOff = sf.Sentiment != nil && !*sf.Sentiment
	if len(sf.FreeUploadAccept) > 0 {
		s.FreeUploadAccept = sf.FreeUploadAccept
	}
	for i, a := range sf.FreeUploadAccept {
		if msg := story.AcceptProblem(a); msg != "" {
			ps = append(ps, doc.Warnf(n.Offset("freeUploadAccept", i), where, "freeUploadAccept %q: %s", a, msg))
		}
	}
	if secret, msg := identitySecret(sf.IdentitySecret); msg != "" {
		bad("identitySecret", "%s", msg)
	} else {
		s.IdentitySecret = secret
	}
	if sf.RetentionDays != nil && *sf.RetentionDays < 0 {
		bad("retentionDays", "retentionDays is negative (0 keeps data forever)")
	}
	if len(ps.Errors()) > 0 {
		return nil, storyFile, ps
	}
	return s, storyFile, ps
}

// minIdentitySecret is the shortest identity secret a site may have: an
// HMAC key a guess cannot find.
const minIdentitySecret = 32

// identitySecret reads a site's identitySecret: the secret, or "env:NAME"
// for the environment variable NAME. It returns a problem's text when the
// secret is missing or too short; "" sets no secret (identify off).
func identitySecret(v string) (secret, problem string) {
	if v == "" {
		return "", ""
	}
	secret = v
	if name, ok := strings.CutPrefix(v, "env:"); ok {
		if secret = os.Getenv(name); secret == "" {
			return "", fmt.Sprintf("identitySecret %q: the environment variable %s is not set", v, name)
		}
	}
	if len(secret) < minIdentitySecret {
		return "", fmt.Sprintf("identitySecret: at least %d characters (e.g. openssl rand -hex 32)", minIdentitySecret)
	}
	return secret, ""
}
