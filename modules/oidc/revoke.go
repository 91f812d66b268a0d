package oidc

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// handleRevoke is RFC 7009: 200 for any token, known or not (RFC 7009
// §2.2). Revoking a refresh token revokes its family and the access tokens
// issued from it; revoking an access token revokes that token (RFC 7009
// §2.1). Another client's token is left alone.
func (p *provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, client := p.authenticatedForm(w, r, false)
	if client == nil {
		return
	}
	token := form.Get("token")
	if token == "" {
		errInvalidRequest("token is missing").Write(w)
		return
	}
	st, ok := p.storageOr503(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	now := p.now()
	var userID string
	var err error
	if strings.Count(token, ".") == 2 {
		if c, verr := p.verifyAccessToken(ctx, token); verr == nil && c.ClientID == client.ID {
			userID = c.Sub
			err = st.RevokeAccessToken(ctx, c.Jti, now)
		}
	} else {
		var rt *storage.RefreshToken
		rt, err = st.RevokeRefreshToken(ctx, hashToken(token), client.ID, now)
		switch {
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrWrongClient):
			err = nil
		case err == nil:
			userID = rt.UserID
		}
	}
	if err != nil {
		p.logger.Error("revoking", zap.Error(err))
		errStorage(err, "could not revoke").Write(w)
		return
	}
	if userID != "" {
		p.revocationsChanged(ctx, st)
		p.record(r, storage.Event{Event: evRevoked, Outcome: "success", UserID: userID, ClientID: client.ID})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is RFC 7662. Only confidential clients may ask, and only
// about their own tokens unless they are resource servers (the client
// option introspect); an inactive token, or another client's, gets
// {"active":false} and nothing else (RFC 7662 §2.2).
func (p *provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, client := p.authenticatedForm(w, r, true)
	if client == nil {
		return
	}
	token := form.Get("token")
	if token == "" {
		errInvalidRequest("token is missing").Write(w)
		return
	}
	st, ok := p.storageOr503(w, r)
	if !ok {
		return
	}
	resp, err := p.introspect(r.Context(), st, token)
	if err == nil && resp["active"] == true && resp["client_id"] != client.ID && !client.Introspect {
		// Only the token's own client, or a resource server (the
		// introspect option), learns about a token (RFC 7662 §2.1, §4).
		resp = map[string]any{"active": false}
	}
	if err != nil {
		p.logger.Error("introspecting", zap.Error(err))
		errStorage(err, "could not introspect").Write(w)
		return
	}
	apierror.JSON(w, http.StatusOK, resp)
}

func (p *provider) introspect(ctx context.Context, st storage.Storage, token string) (map[string]any, error) {
	inactive := map[string]any{"active": false}
	if strings.Count(token, ".") == 2 {
		c, err := p.liveAccessToken(ctx, st, token)
		if errors.Is(err, errBadToken) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID,
			"sub": c.Sub, "username": c.Email, "aud": c.Aud, "iss": c.Iss, "exp": c.Exp, "iat": c.Iat, "jti": c.Jti}, nil
	}
	rt, err := st.ActiveRefreshToken(ctx, hashToken(token), p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"active": true, "token_type": "refresh_token", "scope": strings.Join(rt.Scopes, " "),
		"client_id": rt.ClientID, "sub": rt.UserID, "iss": p.issuer, "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix()}, nil
}
