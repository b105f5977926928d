package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
)

func init() {
	commands["agent"] = command{"add, list or revoke the agents who answer visitors in the console", runAgent}
}

// agentRecord is an agent as the command prints it, and as the admin API
// answers it (with the secret, once, after add).
type agentRecord struct {
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName"`
	CreatedAt   time.Time `json:"createdAt"`
	Email       string    `json:"email,omitempty"`
	Sites       []string  `json:"sites,omitempty"`
	Secret      string    `json:"secret,omitempty"`
}

// runAgent is `parley agent add NAME [--display TEXT] | list | revoke NAME`,
// each with --url URL (Parley running: through its admin API with the admin
// token), --store postgres://… (the PostgreSQL store itself, running or
// not) or --data DIR (Parley stopped: the Badger store itself).
func runAgent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("say what to do: parley agent add NAME [--display \"Full Name\"] | list | revoke NAME")
	}
	verb, args := args[0], args[1:]
	fs := newFlags("agent "+verb, stderr)
	var spec agentRecord
	fs.StringVar(&spec.DisplayName, "display", "", "add: the name visitors see (default NAME)")
	fs.StringVar(&spec.Email, "email", "", "add: where the agent hears of waiting conversations and leads (needs --smtp-addr on serve)")
	sites := fs.String("sites", "", "add: the sites whose emails the agent gets, comma-separated (default: all)")
	rawURL := fs.String("url", getenv("PARLEY_URL"), "base URL of the running Parley, e.g. http://127.0.0.1:8080 (PARLEY_URL)")
	tokenFile := fs.String("token-file", filepath.Join(envOr(getenv, "PARLEY_DATA", "./parley-data"), "admin.token"),
		"file holding the admin token, used with --url when PARLEY_ADMIN_TOKEN is not set")
	pgURL := fs.String("store", getenv("PARLEY_STORE"), "the PostgreSQL store (postgres://…; PARLEY_STORE), instead of --data; ignored with --url")
	dataDir := fs.String("data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory of a stopped Parley (PARLEY_DATA); ignored with --url")
	// The name comes before the flags (agent add ana --display Ana).
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	spec.Name = name
	if *sites != "" {
		spec.Sites = strings.Split(*sites, ",")
	}
	switch verb {
	case "add", "revoke":
		if name == "" {
			return fmt.Errorf("agent %s NAME: the agent's sign-in name is missing", verb)
		}
	case "list":
	default:
		return fmt.Errorf("unknown agent command %q: want add, list or revoke", verb)
	}
	var do agentDoer
	if *rawURL != "" {
		c, err := newAdminClient(*rawURL, getenv, *tokenFile)
		if err != nil {
			return err
		}
		do = c
	} else if *pgURL != "" {
		store, err := postgres.Open(ctx, *pgURL, postgres.Options{})
		if err != nil {
			return err
		}
		defer store.Close()
		do = storeAgents{store}
	} else {
		store, err := storage.Open(*dataDir, storage.Options{})
		if err != nil {
			err = explainOpenError(*dataDir, err)
			if strings.Contains(err.Error(), "in use by another Parley") {
				return fmt.Errorf("%w\n(while Parley runs, manage agents through it: --url http://HOST:PORT)", err)
			}
			return err
		}
		defer store.Close()
		do = storeAgents{store}
	}
	switch verb {
	case "add":
		a, err := do.add(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "parley agent: added %s (%q); its secret is shown this once, give it to them:\n", a.Name, a.DisplayName)
		fmt.Fprintln(stdout, a.Secret)
	case "list":
		agents, err := do.list(ctx)
		if err != nil {
			return err
		}
		for _, a := range agents {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", a.Name, a.DisplayName, a.CreatedAt.UTC().Format(time.RFC3339), a.Email)
		}
	case "revoke":
		if err := do.revoke(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "parley agent: revoked %s; its consoles are signed out\n", name)
	}
	return nil
}

// agentDoer manages agents, through a running server or a stopped store.
type agentDoer interface {
	add(ctx context.Context, spec agentRecord) (agentRecord, error)
	list(ctx context.Context) ([]agentRecord, error)
	revoke(ctx context.Context, name string) error
}

// storeAgents manages the agents in a store: a Badger store no server
// holds, or PostgreSQL, which running nodes share.
type storeAgents struct {
	s interface {
		AddAgent(ctx context.Context, a *storage.Agent) error
		Agents(ctx context.Context) ([]storage.Agent, error)
		RevokeAgent(ctx context.Context, name string) error
	}
}

func (d storeAgents) add(ctx context.Context, spec agentRecord) (agentRecord, error) {
	display := strings.TrimSpace(spec.DisplayName)
	if display == "" {
		display = spec.Name
	}
	secret := admin.NewSecret()
	a := &storage.Agent{Name: spec.Name, DisplayName: display, SecretHash: admin.HashSecret(secret), CreatedAt: time.Now().UTC(),
		Email: spec.Email, Sites: spec.Sites}
	if err := d.s.AddAgent(ctx, a); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return agentRecord{}, fmt.Errorf("an agent %q exists; revoke it first to issue a new secret", spec.Name)
		}
		return agentRecord{}, err
	}
	return agentRecord{Name: a.Name, DisplayName: a.DisplayName, CreatedAt: a.CreatedAt, Email: a.Email, Sites: a.Sites, Secret: secret}, nil
}

func (d storeAgents) list(ctx context.Context) ([]agentRecord, error) {
	agents, err := d.s.Agents(ctx)
	out := make([]agentRecord, len(agents))
	for i, a := range agents {
		out[i] = agentRecord{Name: a.Name, DisplayName: a.DisplayName, CreatedAt: a.CreatedAt, Email: a.Email, Sites: a.Sites}
	}
	return out, err
}

func (d storeAgents) revoke(ctx context.Context, name string) error {
	if err := d.s.RevokeAgent(ctx, name); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no agent %q", name)
	} else if err != nil {
		return err
	}
	return nil
}

// adminClient calls a running Parley's admin API with the admin token.
type adminClient struct {
	base  string
	token string
}

// newAdminClient checks the base URL and reads the admin token from
// PARLEY_ADMIN_TOKEN, else from tokenFile.
func newAdminClient(rawURL string, getenv func(string) string, tokenFile string) (*adminClient, error) {
	base, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--url %q: want http://HOST:PORT", rawURL)
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token: set PARLEY_ADMIN_TOKEN or pass --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &adminClient{base: base.String(), token: token}, nil
}

// call sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to ignore it); an error answer becomes an error
// with the server's message.
func (c *adminClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is Parley running at %s? %w", c.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e respond.Error
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s answered %s: %s", c.base, resp.Status, e.Message)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *adminClient) add(ctx context.Context, spec agentRecord) (agentRecord, error) {
	var a agentRecord
	body := map[string]any{"name": spec.Name, "displayName": spec.DisplayName, "email": spec.Email, "sites": spec.Sites}
	err := c.call(ctx, http.MethodPost, "/admin/api/agents", body, &a)
	return a, err
}

func (c *adminClient) list(ctx context.Context) ([]agentRecord, error) {
	var l struct {
		Items []agentRecord `json:"items"`
	}
	err := c.call(ctx, http.MethodGet, "/admin/api/agents", nil, &l)
	return l.Items, err
}

func (c *adminClient) revoke(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/admin/api/agents/"+url.PathEscape(name), nil, nil)
}
