package oidc

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// handleConsent shows the consent page and records the decision.
func (p *provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	db, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	req, clientName := p.pageRequest(r.Context(), db, form.Get("request_id"))
	if req == nil {
		p.errorPage(w, errInvalidRequest("the authorization request has expired or is unknown; start again from the application"))
		return
	}
	sess, err := p.currentSession(r.Context(), db, r)
	if err != nil || sess == nil {
		p.redirect(w, r, p.url(pathSignIn)+"?request_id="+url.QueryEscape(req.ID))
		return
	}
	if r.Method == http.MethodGet {
		csrf, err := p.csrfToken(w, r, "consent", req.ID)
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, http.StatusOK, "consent", map[string]any{"Title": "Allow access?", "Action": p.url(pathConsent),
			"CSRF": csrf, "RequestID": req.ID, "Client": clientName, "Scopes": describeScopes(req.Scopes)})
		return
	}
	if !p.checkCSRF(r, form, "consent", req.ID) {
		p.forbidden(w)
		return
	}
	if form.Get("decision") != "allow" {
		_, _ = db.Exec(r.Context(), "DELETE FROM oidc_auth_requests WHERE id = ?", req.ID)
		p.redirectError(w, r, req, newError(http.StatusBadRequest, "access_denied", "the user denied the request"))
		return
	}
	now := p.now().UnixMilli()
	scope := strings.Join(req.Scopes, " ")
	if _, err := db.Exec(r.Context(), `INSERT INTO oidc_consents (user_id, client_id, scope, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at`,
		sess.UserID, req.ClientID, scope, now, now); err != nil {
		p.logger.Error("storing consent", zap.Error(err))
	}
	p.decide(w, r, req, sess.AuthTime.UnixMilli() >= req.CreatedAt, true)
}

func describeScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "openid":
			out = append(out, "Know who you are")
		case "profile":
			out = append(out, "See your name and role")
		case "email":
			out = append(out, "See your e-mail address")
		case "offline_access":
			out = append(out, "Stay signed in when you are away")
		}
	}
	return out
}
