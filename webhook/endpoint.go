package webhook

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// Endpoint is one receiver of a site's events, as the site's config names
// it.
type Endpoint struct {
	Site string
	// ID names the endpoint within its site (its delivery log and
	// backlog are kept under it); letters, digits, '-' and '_'.
	ID string
	// URL is where events are POSTed: http or https, no user:password.
	URL string
	// Secret signs every delivery: "whsec_" + base64 of 24 to 64 bytes.
	Secret string
	// Events are the event types the endpoint wants (storage.EventTypes).
	Events []string
	// AllowPrivate lets the endpoint be on a loopback, private or
	// link-local address; without it such addresses are refused when
	// dialled.
	AllowPrivate bool

	key []byte // the parsed Secret
}

// Name is how the store and the admin API name the endpoint: "site/id".
func (e *Endpoint) Name() string { return e.Site + "/" + e.ID }

// Wants reports whether the endpoint wants events of type typ.
func (e *Endpoint) Wants(typ string) bool { return slices.Contains(e.Events, typ) }

// Validate checks the endpoint and parses its secret. Each problem names
// the field it is about: "url: …", "secret: …", "events: …", "id: …".
func (e *Endpoint) Validate() []error {
	var errs []error
	if e.ID == "" || strings.IndexFunc(e.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 || len(e.ID) > 64 {
		errs = append(errs, fmt.Errorf("id: want 1 to 64 letters, digits, '-' or '_', got %q", e.ID))
	}
	if err := checkURL(e.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else if host := hostOf(e.URL); !e.AllowPrivate && host != "" && !publicHost(host) {
		// Refused at every dial anyway: say so now.
		errs = append(errs, fmt.Errorf("url: %q is not a public address; deliveries to it are refused unless the endpoint sets allowPrivateNetwork", host))
	}
	key, err := ParseSecret(e.Secret)
	if err != nil {
		errs = append(errs, fmt.Errorf("secret: %s", strings.TrimPrefix(err.Error(), "webhook: secret: ")))
	}
	e.key = key
	if len(e.Events) == 0 {
		errs = append(errs, fmt.Errorf("events: list the events the endpoint wants, from %s", strings.Join(storage.EventTypes, ", ")))
	}
	for _, ev := range e.Events {
		if !slices.Contains(storage.EventTypes, ev) {
			errs = append(errs, fmt.Errorf("events: unknown event %q (known: %s)", ev, strings.Join(storage.EventTypes, ", ")))
		}
	}
	return errs
}

// Warnings returns what is allowed but probably unwanted: a URL that
// sends the events unencrypted.
func (e *Endpoint) Warnings() []string {
	if u, err := url.Parse(e.URL); err == nil && u.Scheme == "http" && !e.AllowPrivate {
		return []string{fmt.Sprintf("url: %q is http: the events (names, emails, messages) travel unencrypted; use https", e.URL)}
	}
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// publicHost reports whether host may be public: an IP literal that is
// Public, or a name other than localhost (names are checked when dialled).
func publicHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return Public(a)
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h != "localhost" && !strings.HasSuffix(h, ".localhost")
}

// checkURL accepts an absolute http or https URL with a host and no
// user information or fragment.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	case u.Hostname() == "":
		return fmt.Errorf("%q: no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: no user:password in the URL; the signature authenticates Parley", raw)
	case u.Fragment != "":
		return fmt.Errorf("%q: no #fragment", raw)
	}
	return nil
}
