package oidc

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/store"
)

// handleRevoke is RFC 7009: 200 for any token, known or not (X3). Revoking
// a refresh token revokes its family and the access tokens issued from it;
// revoking an access token revokes that token.
func (p *provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, e := parseForm(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	auth, e := p.authenticateClient(r, form)
	if e != nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		}
		writeError(w, e)
		return
	}
	token := form.Get("token")
	if token == "" {
		writeError(w, errInvalidRequest("token is missing"))
		return
	}
	db, err := p.database(r.Context())
	if err != nil {
		writeError(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is starting"))
		return
	}
	ctx := r.Context()
	var userID string
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if strings.Count(token, ".") == 2 {
			c, err := p.verifyAccessToken(ctx, token)
			if err != nil || c.ClientID != auth.client.ID {
				return nil
			}
			userID = c.Sub
			_, err = tx.Exec(ctx, "UPDATE oidc_access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", p.now().UnixMilli(), c.Jti)
			return err
		}
		var grantID, clientID string
		err := tx.QueryRow(ctx, "SELECT grant_id, client_id, user_id FROM oidc_refresh_tokens WHERE token_hash = ?", hashToken(token)).
			Scan(&grantID, &clientID, &userID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && clientID != auth.client.ID) {
			userID = ""
			return nil
		}
		if err != nil {
			return err
		}
		return p.revokeGrant(ctx, tx, grantID)
	})
	if err != nil {
		p.logger.Error("revoking", zap.Error(err))
		writeError(w, errServer("could not revoke"))
		return
	}
	if userID != "" {
		p.record(r, authEvent{Event: evRevoked, Outcome: "success", UserID: userID, ClientID: auth.client.ID})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is RFC 7662. Only confidential clients (resource servers)
// may ask; an inactive token gets {"active":false} and nothing else (X4).
func (p *provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, e := parseForm(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	auth, e := p.authenticateClient(r, form)
	if e == nil && auth.client.Public {
		e = errInvalidClient("introspection requires a confidential client")
	}
	if e != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		writeError(w, e)
		return
	}
	token := form.Get("token")
	if token == "" {
		writeError(w, errInvalidRequest("token is missing"))
		return
	}
	db, err := p.database(r.Context())
	if err != nil {
		writeError(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is starting"))
		return
	}
	resp, err := p.introspect(r.Context(), db, token)
	if err != nil {
		p.logger.Error("introspecting", zap.Error(err))
		writeError(w, errServer("could not introspect"))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *provider) introspect(ctx context.Context, db *store.DB, token string) (map[string]any, error) {
	inactive := map[string]any{"active": false}
	if strings.Count(token, ".") == 2 {
		c, err := p.liveAccessToken(ctx, db, token)
		if errors.Is(err, errBadToken) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID,
			"sub": c.Sub, "username": c.Email, "aud": c.Aud, "iss": c.Iss, "exp": c.Exp, "iat": c.Iat, "jti": c.Jti}, nil
	}
	var clientID, userID, scope string
	var created, expires int64
	var used, revoked sql.NullInt64
	err := db.QueryRow(ctx, `SELECT client_id, user_id, scope, created_at, expires_at, used_at, revoked_at
		FROM oidc_refresh_tokens WHERE token_hash = ?`, hashToken(token)).Scan(&clientID, &userID, &scope, &created, &expires, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if used.Valid || revoked.Valid || p.now().UnixMilli() >= expires {
		return inactive, nil
	}
	return map[string]any{"active": true, "token_type": "refresh_token", "scope": scope, "client_id": clientID,
		"sub": userID, "iss": p.issuer, "exp": expires / 1000, "iat": created / 1000}, nil
}
