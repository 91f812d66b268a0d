package oidc

import (
	"net/http"
	"net/url"
	"slices"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// handleEndSession is RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0). post_logout_redirect_uri must be registered for the client
// named by client_id or by the id_token_hint's audience, else the error is
// shown on a page (RP-Initiated Logout §3, RFC 9700 §4.11). With a valid
// hint for the signed-in user the session ends at once; otherwise the user
// confirms with a CSRF-protected form, so a third party cannot sign people
// out.
func (p *provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var hintSub, hintAud string
	if hint := form.Get("id_token_hint"); hint != "" {
		var err error
		if hintSub, hintAud, err = p.idTokenHint(ctx, hint); err != nil {
			p.errorPage(w, errInvalidRequest("id_token_hint is not a valid ID token from this provider"))
			return
		}
	}
	clientID := form.Get("client_id")
	if clientID != "" && hintAud != "" && clientID != hintAud {
		p.errorPage(w, errInvalidRequest("client_id does not match the id_token_hint"))
		return
	}
	if clientID == "" {
		clientID = hintAud
	}
	var client *Client
	if clientID != "" {
		if client = p.clients[clientID]; client == nil {
			p.errorPage(w, apierror.NewOAuth(http.StatusBadRequest, "invalid_client", "unknown client_id"))
			return
		}
	}
	target := form.Get("post_logout_redirect_uri")
	if target != "" && (client == nil || !slices.Contains(client.PostLogoutRedirectURIs, target)) {
		p.errorPage(w, errInvalidRequest("post_logout_redirect_uri is not registered for this client"))
		return
	}
	sess, _ := p.currentSession(ctx, st, r)
	confirmed := r.Method == http.MethodPost && form.Get("confirm") == "yes"
	if confirmed && !p.checkCSRF(r, form, "end-session", "") {
		p.forbidden(w)
		return
	}
	if sess != nil && !confirmed && (hintSub == "" || hintSub != sess.UserID) {
		csrf, err := p.csrfToken(w, r, "end-session", "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		hidden := map[string]string{}
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if v := form.Get(k); v != "" {
				hidden[k] = v
			}
		}
		name := ""
		if client != nil {
			name = client.displayName()
		}
		p.render(w, http.StatusOK, "logout", map[string]any{"Title": "Sign out", "Action": p.url(pathEndSession),
			"CSRF": csrf, "Hidden": hidden, "Client": name})
		return
	}
	if sess != nil {
		p.signOut(w, r, st, clientID)
	}
	if target != "" {
		u, _ := url.Parse(target)
		if st := form.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		p.redirect(w, r, u.String())
		return
	}
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed out", "Message": "You are signed out."})
}

// handleSignOut: GET shows a confirmation form, POST (with CSRF) revokes the
// session server-side.
func (p *provider) handleSignOut(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		csrf, err := p.csrfToken(w, r, "sign-out", "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		p.render(w, http.StatusOK, "message", map[string]any{"Title": "Sign out", "Message": "Sign out of this site?",
			"Action": p.url(pathSignOut), "CSRF": csrf})
		return
	}
	if !p.checkCSRF(r, form, "sign-out", "") {
		p.forbidden(w)
		return
	}
	p.signOut(w, r, st, "")
	p.render(w, http.StatusOK, "message", map[string]any{"Title": "Signed out", "Message": "You are signed out."})
}

// signOut ends the browser's session, revokes the tokens issued in it
// (refresh families, and access tokens at every bearer_jwt of this
// issuer) and records both.
func (p *provider) signOut(w http.ResponseWriter, r *http.Request, st storage.Storage, clientID string) {
	sess, _ := p.currentSession(r.Context(), st, r)
	userID, err := p.endSession(r.Context(), st, w, r)
	if err != nil {
		p.logger.Error("ending session", zap.Error(err))
	}
	if sess != nil && err == nil {
		if err := p.revokeSessionTokens(r.Context(), st, sess.ID); err != nil {
			p.logger.Error("revoking the session's tokens", zap.Error(err))
		} else {
			p.record(r, storage.Event{Event: evRevoked, Outcome: "success", UserID: sess.UserID, ClientID: clientID,
				Detail: "session ended: its tokens revoked"})
		}
	}
	if userID != "" {
		email := ""
		if u, err := st.UserByID(r.Context(), userID); err == nil {
			email = u.Email
		}
		p.record(r, storage.Event{Event: evSignOut, Outcome: "success", UserID: userID, Email: email, ClientID: clientID})
	}
}
