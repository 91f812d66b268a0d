package oidc

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
)

// handleConsent shows the consent page and records the decision.
func (p *provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	req, clientName := p.pageRequest(r.Context(), st, form.Get("request_id"))
	if req == nil {
		p.errorPage(w, errInvalidRequest("the authorization request has expired or is unknown; start again from the application"))
		return
	}
	sess, err := p.currentSession(r.Context(), st, r)
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
		_ = st.DeleteAuthRequest(r.Context(), req.ID)
		p.redirectError(w, r, req, apierror.NewOAuth(http.StatusBadRequest, "access_denied", "the user denied the request"))
		return
	}
	if err := st.SaveConsent(r.Context(), sess.UserID, req.ClientID, req.Scopes, p.now()); err != nil {
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
