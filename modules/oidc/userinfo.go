package oidc

import (
	"context"
	"database/sql"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/intellistack/intellistack/modules/store"
)

// bearerToken reads the access token from the Authorization header, or for a
// form POST from the body (RFC 6750 §2.1, §2.2).
func bearerToken(w http.ResponseWriter, r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if r.Method == http.MethodPost {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
			if r.ParseForm() == nil {
				return r.PostForm.Get("access_token")
			}
		}
	}
	return ""
}

// liveAccessToken verifies a token and checks it has not been revoked.
func (p *provider) liveAccessToken(ctx context.Context, db *store.DB, token string) (*accessClaims, error) {
	c, err := p.verifyAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	var revoked sql.NullInt64
	err = db.QueryRow(ctx, "SELECT revoked_at FROM oidc_access_tokens WHERE jti = ?", c.Jti).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked.Valid) {
		return nil, errBadToken
	}
	return c, err
}

// handleUserinfo is the UserInfo endpoint (OIDC Core §5.3). A missing or bad
// token gets 401 with an RFC 6750 challenge (X1).
func (p *provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	token := bearerToken(w, r)
	challenge := func(code, desc string) {
		v := `Bearer realm="` + p.issuer + `"`
		if code != "" {
			v += `, error="` + code + `", error_description="` + cleanDescription(desc) + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		if code == "" {
			code, desc = "invalid_request", "an access token is required"
		}
		writeError(w, newError(http.StatusUnauthorized, code, desc))
	}
	if token == "" {
		challenge("", "")
		return
	}
	db, err := p.database(r.Context())
	if err != nil {
		writeError(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is starting"))
		return
	}
	c, err := p.liveAccessToken(r.Context(), db, token)
	if err != nil {
		if errors.Is(err, errBadToken) {
			challenge("invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		writeError(w, errServer("token lookup failed"))
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="insufficient_scope", scope="openid"`)
		writeError(w, newError(http.StatusForbidden, "insufficient_scope", "the token lacks the openid scope"))
		return
	}
	u, err := p.userByID(r.Context(), db, c.Sub)
	if errors.Is(err, errNoUser) {
		challenge("invalid_token", "the user no longer exists")
		return
	}
	if err != nil {
		writeError(w, errServer("user lookup failed"))
		return
	}
	claims := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") {
		claims["name"] = u.Name
		claims["role"] = u.Role
		claims["updated_at"] = u.UpdatedAt / 1000
		if u.Image != "" {
			claims["picture"] = u.Image
		}
	}
	if slices.Contains(scopes, "email") {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	writeJSON(w, http.StatusOK, claims)
}
