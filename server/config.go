package server

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/widget"
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

	// RetentionDays maps a site ID to the days a visitor's data is kept
	// after its last activity, 0 for ever; sites not in it keep
	// DefaultRetentionDays (lifecycle.go).
	RetentionDays map[string]int

	Sites  []*widget.Site
	Limits widget.Config
	// UploadLimits bound uploads (quota, concurrency, stalls); a file's
	// size cap is per site (uploadMaxBytes in the config file).
	UploadLimits fileupload.Limits

	Logger *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// ParseServeFlags reads the serve flags, with PARLEY_* environment twins
// as defaults, and loads the sites from the config file or the built-in demo.
func ParseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &Config{}
	fs.StringVar(&cfg.Addr, "addr", envOr(getenv, "PARLEY_ADDR", "127.0.0.1:8080"), "listen address (PARLEY_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory (PARLEY_DATA)")
	fs.StringVar(&cfg.ConfigFile, "config", getenv("PARLEY_CONFIG"), "sites config file, JSON (PARLEY_CONFIG)")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", getenv("PARLEY_DEBUG_ADDR"), "serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060; off when empty (PARLEY_DEBUG_ADDR)")
	fs.BoolVar(&cfg.SyncWrites, "sync", getenv("PARLEY_SYNC") == "1", "fsync every write: survives power loss, slower (PARLEY_SYNC=1)")
	checkLimits := bindLimitFlags(fs, getenv, cfg) // limits.go
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkLimits(); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.AdminToken = getenv("PARLEY_ADMIN_TOKEN")
	sites, err := LoadSites(cfg.ConfigFile)
	if err != nil {
		return nil, err
	}
	cfg.Sites = sites
	if cfg.RetentionDays, err = loadRetentionDays(cfg.ConfigFile); err != nil { // lifecycle.go
		return nil, err
	}
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
	PhoneRegion      string   `json:"phoneRegion"`
	TextLimit        int      `json:"textLimit"`
	UploadMaxBytes   int64    `json:"uploadMaxBytes"`
	FreeUploads      bool     `json:"freeUploads"`
	FreeUploadAccept []string `json:"freeUploadAccept"`
	RetentionDays    *int     `json:"retentionDays"` // read by loadRetentionDays (lifecycle.go)
}

type configFile struct {
	Sites []siteFile `json:"sites"`
}

// LoadSites reads the sites of a config file; an empty path means the
// built-in demo site. Errors name the file, the site and what is wrong.
func LoadSites(path string) ([]*widget.Site, error) {
	if path == "" {
		return []*widget.Site{DemoSite()}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var cf configFile
	if err := dec.Decode(&cf); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(cf.Sites) == 0 {
		return nil, fmt.Errorf("config %s: no sites", path)
	}
	seen := map[string]bool{}
	var sites []*widget.Site
	for i, sf := range cf.Sites {
		site, err := sf.site(filepath.Dir(path))
		if err != nil {
			name := sf.ID
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, fmt.Errorf("config %s: site %s: %w", path, name, err)
		}
		if seen[site.ID] {
			return nil, fmt.Errorf("config %s: site %s: duplicate id", path, site.ID)
		}
		seen[site.ID] = true
		sites = append(sites, site)
	}
	return sites, nil
}

func (sf siteFile) site(dir string) (*widget.Site, error) {
	if sf.ID == "" || strings.ContainsAny(sf.ID, "/ ?&#") {
		return nil, errors.New("id must be set and contain no '/', space, '?', '&' or '#'")
	}
	if len(sf.Origins) == 0 {
		return nil, errors.New("no allowed origins")
	}
	for _, o := range sf.Origins {
		if scheme, host, ok := strings.Cut(o, "://"); !ok || (scheme != "http" && scheme != "https") || host == "" || strings.Contains(host, "/") {
			return nil, fmt.Errorf("origin %q: want scheme://host[:port], e.g. https://example.org", o)
		}
	}
	s := DemoSite()
	s.ID, s.Name, s.Origins = sf.ID, sf.Name, sf.Origins
	switch sf.Story {
	case "", "builtin:demo":
	default:
		p := sf.Story
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		st, err := story.LoadFile(p)
		if err != nil {
			return nil, err
		}
		s.Story = st
	}
	if sf.SessionTimeout != "" {
		d, err := time.ParseDuration(sf.SessionTimeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("sessionTimeout %q: want a positive duration like 30m", sf.SessionTimeout)
		}
		s.SessionTimeout = d
	}
	if sf.PhoneRegion != "" {
		s.Input.PhoneRegion = strings.ToUpper(sf.PhoneRegion)
	}
	if sf.TextLimit < 0 {
		return nil, errors.New("textLimit is negative")
	}
	s.Input.MaxText = sf.TextLimit
	if sf.UploadMaxBytes < 0 {
		return nil, errors.New("uploadMaxBytes is negative")
	}
	if sf.UploadMaxBytes > 0 {
		s.UploadMaxBytes = sf.UploadMaxBytes
	}
	s.FreeUploads = sf.FreeUploads
	if len(sf.FreeUploadAccept) > 0 {
		s.FreeUploadAccept = sf.FreeUploadAccept
	}
	return s, nil
}
