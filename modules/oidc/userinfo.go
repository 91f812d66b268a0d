package oidc

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
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
func (p *provider) liveAccessToken(ctx context.Context, st storage.Storage, token string) (*accessClaims, error) {
	c, err := p.verifyAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	active, err := st.AccessTokenActive(ctx, c.Jti, p.now())
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, errBadToken
	}
	return c, nil
}

// handleUserinfo is the UserInfo endpoint (OpenID Connect Core §5.3). A
// missing or bad token gets 401 with a Bearer challenge (RFC 6750 §3,
// §3.1).
func (p *provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	token := bearerToken(w, r)
	challenge := func(code, desc string) {
		v := `Bearer realm="` + p.issuer + `"`
		if code != "" {
			v += `, error="` + code + `", error_description="` + apierror.CleanDescription(desc) + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		if code == "" {
			code, desc = "invalid_request", "an access token is required"
		}
		apierror.NewOAuth(http.StatusUnauthorized, code, desc).Write(w)
	}
	if token == "" {
		challenge("", "")
		return
	}
	st, ok := p.storageOr503(w, r)
	if !ok {
		return
	}
	c, err := p.liveAccessToken(r.Context(), st, token)
	if err != nil {
		if errors.Is(err, errBadToken) {
			challenge("invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		errStorage(err, "token lookup failed").Write(w)
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="insufficient_scope", scope="openid"`)
		apierror.NewOAuth(http.StatusForbidden, "insufficient_scope", "the token lacks the openid scope").Write(w)
		return
	}
	u, err := st.UserByID(r.Context(), c.Sub)
	if errors.Is(err, storage.ErrNotFound) {
		challenge("invalid_token", "the user no longer exists")
		return
	}
	if err != nil {
		errStorage(err, "user lookup failed").Write(w)
		return
	}
	claims := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") {
		claims["name"] = u.Name
		claims["role"] = u.Role
		claims["updated_at"] = u.UpdatedAt.Unix()
		if u.Image != "" {
			claims["picture"] = u.Image
		}
	}
	if slices.Contains(scopes, "email") {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	apierror.JSON(w, http.StatusOK, claims)
}
