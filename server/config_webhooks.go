package server

import (
	"fmt"
	"strings"

	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/widget/conffile"
)

// webhookFile is one webhook endpoint of a site in the config file.
type webhookFile struct {
	ID                  string   `json:"id"`
	URL                 string   `json:"url"`
	Secret              string   `json:"secret"`
	Events              []string `json:"events"`
	AllowPrivateNetwork bool     `json:"allowPrivateNetwork"`
}

// checkWebhooks turns a site's webhook entries (the "webhooks" list of
// site node n) into validated endpoints, with a problem at its place for
// every bad value and every repeated ID.
func checkWebhooks(doc *conffile.Doc, n *conffile.Node, site string, wfs []webhookFile, where string) ([]webhook.Endpoint, conffile.Problems) {
	var ps conffile.Problems
	list := n.Get("webhooks")
	var eps []webhook.Endpoint
	seen := map[string]bool{}
	for i, wf := range wfs {
		en := list
		if list != nil && i < len(list.Elems) {
			en = list.Elems[i]
		}
		ep := webhook.Endpoint{Site: site, ID: wf.ID, URL: wf.URL, Secret: wf.Secret, Events: wf.Events, AllowPrivate: wf.AllowPrivateNetwork}
		errs := ep.Validate()
		for _, err := range errs {
			field, _, _ := strings.Cut(err.Error(), ":")
			ps = append(ps, doc.Errorf(conffile.At(en, field), where, "webhooks[%d]: %v", i, err))
		}
		for _, w := range ep.Warnings() {
			field, _, _ := strings.Cut(w, ":")
			ps = append(ps, doc.Warnf(conffile.At(en, field), where, "webhooks[%d]: %s", i, w))
		}
		if seen[wf.ID] {
			ps = append(ps, doc.Errorf(conffile.At(en, "id"), where, "webhooks[%d]: duplicate id %q: another endpoint of the site above has it", i, wf.ID))
		}
		seen[wf.ID] = true
		if len(errs) == 0 {
			eps = append(eps, ep)
		}
	}
	return eps, ps
}

// bindWebhookFlags adds the webhook delivery's limits to the serve flags.
func bindWebhookFlags(b *limitBinder, l *webhook.Config) {
	b.int(&l.MaxBacklog, "webhook-backlog", "PARLEY_WEBHOOK_BACKLOG", "events waiting per webhook endpoint; past it new events are dropped for it and counted (0: 10000)")
	b.int(&l.Concurrency, "webhook-concurrency", "PARLEY_WEBHOOK_CONCURRENCY", "webhook deliveries to one endpoint at once, each of a different session (0: 4)")
	b.dur(&l.BackoffBase, "webhook-retry", "PARLEY_WEBHOOK_RETRY", "wait before retrying a failed webhook delivery, doubled after each further failure up to 1h (0: 5s)")
	b.dur(&l.Timeout, "webhook-timeout", "PARLEY_WEBHOOK_TIMEOUT", "time one webhook delivery may take, from dialling to the answer's headers (0: 10s)")
}

// webhookSummary is how a log line names the endpoints of a config.
func webhookSummary(eps []webhook.Endpoint) []string {
	out := make([]string, len(eps))
	for i := range eps {
		out[i] = fmt.Sprintf("%s → %s", eps[i].Name(), eps[i].URL)
	}
	return out
}
