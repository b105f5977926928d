package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// agentJSON is an agent as the API shows it: never its secret's hash.
type agentJSON struct {
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName"`
	CreatedAt   time.Time `json:"createdAt"`
	Email       string    `json:"email,omitempty"`
	Sites       []string  `json:"sites,omitempty"`
}

func toAgent(ag storage.Agent) agentJSON {
	return agentJSON{Name: ag.Name, DisplayName: ag.DisplayName, CreatedAt: ag.CreatedAt, Email: ag.Email, Sites: ag.Sites}
}

// newAgentJSON answers POST /admin/api/agents: the agent and, this once,
// its secret.
type newAgentJSON struct {
	agentJSON
	Secret string `json:"secret"`
}

// listAgents answers GET /admin/api/agents: every agent, by name. Agents
// may read it (the inbox names who holds what).
func (a *Admin) listAgents(w http.ResponseWriter, r *http.Request) {
	agents, err := a.store.Agents(r.Context())
	if err != nil {
		a.errs.Internal(w, r, err, "the agents could not be read")
		return
	}
	respond.JSON(w, http.StatusOK, listOf(agents, "", toAgent))
}

// addAgent answers POST /admin/api/agents {"name","displayName"}: 201 with
// the new agent's secret, shown this once; 409 agent_exists.
func (a *Admin) addAgent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string   `json:"name"`
		DisplayName string   `json:"displayName"`
		Email       string   `json:"email"`
		Sites       []string `json:"sites"`
	}
	if !a.decode(w, r, &req, `{"name":"…","displayName":"…","email":"…","sites":["…"]}`) {
		return
	}
	req.DisplayName = strings.TrimSpace(req.DisplayName)
	if req.DisplayName == "" {
		req.DisplayName = req.Name
	}
	secret := NewSecret()
	ag := &storage.Agent{Name: req.Name, DisplayName: req.DisplayName, SecretHash: HashSecret(secret), CreatedAt: a.now().UTC(),
		Email: strings.TrimSpace(req.Email), Sites: req.Sites}
	if err := ag.Validate(); err != nil {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_agent", strings.TrimPrefix(err.Error(), "storage: agent: "))
		return
	}
	switch err := a.store.AddAgent(r.Context(), ag); {
	case errors.Is(err, storage.ErrExists):
		a.errs.Error(w, r, http.StatusConflict, "agent_exists", "an agent of that name exists; revoke it first to issue a new secret")
		return
	case err != nil:
		a.errs.Internal(w, r, err, "the agent could not be stored")
		return
	}
	respond.JSON(w, http.StatusCreated, newAgentJSON{toAgent(*ag), secret})
}

// revokeAgent answers DELETE /admin/api/agents/{name}: 204, the agent's
// consoles signed out; 404 when there is no such agent.
func (a *Admin) revokeAgent(w http.ResponseWriter, r *http.Request) {
	switch err := a.store.RevokeAgent(r.Context(), r.PathValue("name")); {
	case isNotFound(err):
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such agent")
	case err != nil:
		a.errs.Internal(w, r, err, "the agent could not be revoked")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// decode reads a JSON body of at most 16 KiB into v, refusing unknown
// fields; it answers 400 bad_request (naming shape) and returns false when
// it cannot.
func (a *Admin) decode(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		a.errs.Error(w, r, http.StatusBadRequest, "bad_request", "want a JSON body "+shape+" of at most 16 KiB")
		return false
	}
	return true
}
