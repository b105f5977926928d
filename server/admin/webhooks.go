package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook"
)

// Webhooks is what the admin side asks of the webhook delivery
// (webhook.Dispatcher).
type Webhooks interface {
	Endpoints(ctx context.Context) ([]webhook.Status, error)
	Endpoint(ctx context.Context, name string) (webhook.Status, error)
	Deliveries(ctx context.Context, name string, limit int) ([]storage.Attempt, error)
	Resend(ctx context.Context, name, attemptID string) (*storage.OutboxEntry, error)
	Resume(ctx context.Context, name string) error
}

var _ Webhooks = (*webhook.Dispatcher)(nil)

// webhookRoutes registers the webhook endpoints' status, delivery logs and
// the two actions on them: send an attempt's event again, resume a paused
// endpoint.
func (a *Admin) webhookRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /admin/api/webhooks", a.listWebhooks)
	api.HandleFunc("GET /admin/api/webhooks/{site}/{id}", a.getWebhook)
	api.HandleFunc("GET /admin/api/webhooks/{site}/{id}/deliveries", a.listDeliveries)
	api.HandleFunc("POST /admin/api/webhooks/{site}/{id}/deliveries/{attempt}/resend", a.resendDelivery)
	api.HandleFunc("POST /admin/api/webhooks/{site}/{id}/resume", a.resumeWebhook)
}

// listWebhooks answers GET /admin/api/webhooks: every configured endpoint
// with its state (paused, failing since, backlog), never its secret.
func (a *Admin) listWebhooks(w http.ResponseWriter, r *http.Request) {
	items, err := a.hooks.Endpoints(r.Context())
	if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: list webhooks: %w", err), "the webhook endpoints could not be read")
		return
	}
	respond.JSON(w, http.StatusOK, map[string]any{"items": items})
}

// endpointName reads {site}/{id} of the path and answers 404 for an
// endpoint the config does not name.
func (a *Admin) endpointName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, ok := webhook.EndpointName(r.PathValue("site"), r.PathValue("id"))
	if ok {
		_, err := a.hooks.Endpoint(r.Context(), name)
		switch {
		case errors.Is(err, webhook.ErrUnknownEndpoint):
			ok = false
		case err != nil:
			a.errs.Internal(w, r, fmt.Errorf("admin: webhook %s: %w", name, err), "the webhook endpoint could not be read")
			return "", false
		}
	}
	if !ok {
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such webhook endpoint in the config")
	}
	return name, ok
}

// getWebhook answers GET /admin/api/webhooks/{site}/{id}.
func (a *Admin) getWebhook(w http.ResponseWriter, r *http.Request) {
	name, ok := a.endpointName(w, r)
	if !ok {
		return
	}
	st, err := a.hooks.Endpoint(r.Context(), name)
	if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: webhook %s: %w", name, err), "the webhook endpoint could not be read")
		return
	}
	respond.JSON(w, http.StatusOK, st)
}

// deliveryItem is one logged attempt as the API shows it: the payload
// that was sent, as JSON.
type deliveryItem struct {
	storage.Attempt
	Payload json.RawMessage `json:"payload"`
}

// listDeliveries answers GET /admin/api/webhooks/{site}/{id}/deliveries:
// the endpoint's last attempts (at most storage.DeliveryLogKeep), newest
// first; limit (1..500, default 50).
func (a *Admin) listDeliveries(w http.ResponseWriter, r *http.Request) {
	limit, ok := readQuery(a, w, r, func(p *params) int { return p.limit() })
	if !ok {
		return
	}
	name, ok := a.endpointName(w, r)
	if !ok {
		return
	}
	log, err := a.hooks.Deliveries(r.Context(), name, limit)
	if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: webhook deliveries %s: %w", name, err), "the delivery log could not be read")
		return
	}
	items := make([]deliveryItem, len(log))
	for i, at := range log {
		items[i] = deliveryItem{Attempt: at, Payload: at.Body}
		if !json.Valid(at.Body) {
			items[i].Payload = nil
		}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"items": items})
}

// resendDelivery answers POST …/deliveries/{attempt}/resend: the attempt's
// event goes into the endpoint's outbox again (same webhook-id and body),
// behind what waits there. 202 with the event's ID; 404 for an attempt
// the log no longer has; 429 when the endpoint's backlog is full.
func (a *Admin) resendDelivery(w http.ResponseWriter, r *http.Request) {
	name, ok := a.endpointName(w, r)
	if !ok {
		return
	}
	e, err := a.hooks.Resend(r.Context(), name, r.PathValue("attempt"))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such attempt in the endpoint's delivery log")
		return
	case errors.Is(err, storage.ErrBacklogFull):
		a.errs.Error(w, r, http.StatusTooManyRequests, "backlog_full", "the endpoint's backlog is full; resume it or wait until it drains")
		return
	case err != nil:
		a.errs.Internal(w, r, fmt.Errorf("admin: resend %s: %w", name, err), "the event could not be queued again")
		return
	}
	a.log.Info("webhook: event sent again", "endpoint", name, "event", e.ID)
	respond.JSON(w, http.StatusAccepted, map[string]string{"eventId": e.ID})
}

// resumeWebhook answers POST …/resume: a paused endpoint gets its waiting
// events again at once (and a day before it is paused again). 204, also
// for an endpoint that was not paused.
func (a *Admin) resumeWebhook(w http.ResponseWriter, r *http.Request) {
	name, ok := a.endpointName(w, r)
	if !ok {
		return
	}
	if err := a.hooks.Resume(r.Context(), name); err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: resume %s: %w", name, err), "the endpoint could not be resumed")
		return
	}
	a.log.Info("webhook: endpoint resumed", "endpoint", name)
	w.WriteHeader(http.StatusNoContent)
}
