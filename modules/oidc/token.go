package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/store"
)

// tokenRequest is a parsed token request (RFC 6749 §4.1.3, §6).
type tokenRequest struct {
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	Scopes       []string
	ScopeSent    bool
}

// parseTokenRequest validates the grant-specific parameters of a token
// request form. It is pure (no I/O), so it is fuzzed directly.
func parseTokenRequest(form url.Values) (*tokenRequest, *oauthError) {
	for k, v := range form {
		if len(v) > 1 {
			return nil, errInvalidRequest("parameter " + safeName(k) + " is repeated")
		}
	}
	t := &tokenRequest{GrantType: form.Get("grant_type")}
	switch t.GrantType {
	case "":
		return nil, errInvalidRequest("grant_type is missing")
	case "authorization_code":
		t.Code = form.Get("code")
		if t.Code == "" {
			return nil, errInvalidRequest("code is missing")
		}
		if len(t.Code) > 512 {
			return nil, errInvalidGrant("the code is invalid")
		}
		t.RedirectURI = form.Get("redirect_uri")
		if form.Has("code_verifier") {
			t.CodeVerifier = form.Get("code_verifier")
			if !validVerifier(t.CodeVerifier) {
				return nil, errInvalidGrant("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
			}
		}
	case "refresh_token":
		t.RefreshToken = form.Get("refresh_token")
		if t.RefreshToken == "" {
			return nil, errInvalidRequest("refresh_token is missing")
		}
		if len(t.RefreshToken) > 512 {
			return nil, errInvalidGrant("the refresh token is invalid")
		}
		if form.Has("scope") {
			t.ScopeSent = true
			t.Scopes = strings.Fields(form.Get("scope"))
		}
	default:
		return nil, newError(http.StatusBadRequest, "unsupported_grant_type", "supported grant types: authorization_code, refresh_token")
	}
	return t, nil
}

// validVerifier is RFC 7636 §4.1 (P6).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

// tokenResponse is RFC 6749 §5.1 plus the OIDC id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

// handleToken is the token endpoint. Every response is no-store (B6).
func (p *provider) handleToken(w http.ResponseWriter, r *http.Request) {
	form, e := parseForm(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	auth, e := p.authenticateClient(r, form)
	if e != nil {
		if _, _, basic := r.BasicAuth(); basic && e.Code == "invalid_client" {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`) // RFC 6749 §5.2 (X2)
		}
		writeError(w, e)
		return
	}
	treq, e := parseTokenRequest(form)
	if e != nil {
		writeError(w, e)
		return
	}
	db, err := p.database(r.Context())
	if err != nil {
		writeError(w, newError(http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is starting"))
		return
	}
	var resp *tokenResponse
	switch treq.GrantType {
	case "authorization_code":
		resp, e = p.exchangeCode(r, db, auth.client, treq)
	case "refresh_token":
		resp, e = p.refresh(r, db, auth.client, treq)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// revokeGrant revokes every refresh and access token of a grant.
func (p *provider) revokeGrant(ctx context.Context, tx *store.Tx, grantID string) error {
	now := p.now().UnixMilli()
	if _, err := tx.Exec(ctx, "UPDATE oidc_refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", now, grantID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE oidc_access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", now, grantID)
	return err
}

func forUpdate(tx *store.Tx) string {
	if tx.Dialect() == store.Postgres {
		return " FOR UPDATE"
	}
	return "" // SQLite transactions are BEGIN IMMEDIATE: already exclusive
}

// exchangeCode redeems an authorization code (single use, S5; bound to
// client, redirect URI and PKCE challenge, S4/S6).
func (p *provider) exchangeCode(r *http.Request, db *store.DB, client *Client, t *tokenRequest) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	var (
		g         *grant
		access    *accessClaims
		refresh   string
		reuse     bool
		reuseUser string
		failure   *oauthError
	)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		var grantID, clientID, userID, sessionID, redirect, scope, nonce, challenge string
		var authTime, expires int64
		var used sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT grant_id, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge,
			auth_time, expires_at, used_at FROM oidc_codes WHERE code_hash = ?`+forUpdate(tx), hashToken(t.Code)).
			Scan(&grantID, &clientID, &userID, &sessionID, &redirect, &scope, &nonce, &challenge, &authTime, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			failure = errInvalidGrant("the code is invalid")
			return nil
		}
		if err != nil {
			return err
		}
		if clientID != client.ID {
			failure = errInvalidGrant("the code was issued to another client")
			return nil
		}
		if used.Valid {
			// RFC 6749 §4.1.2: revoke what the first redemption issued.
			reuse, reuseUser = true, userID
			failure = errInvalidGrant("the code has already been used")
			return p.revokeGrant(ctx, tx, grantID)
		}
		if p.now().UnixMilli() >= expires {
			failure = errInvalidGrant("the code has expired")
			return nil
		}
		if redirect != "" && t.RedirectURI != redirect {
			failure = errInvalidGrant("redirect_uri does not match the authorization request")
			return nil
		}
		if redirect == "" && t.RedirectURI != "" && !client.allowsRedirect(t.RedirectURI) {
			failure = errInvalidGrant("redirect_uri does not match the authorization request")
			return nil
		}
		switch {
		case challenge != "" && t.CodeVerifier == "":
			failure = errInvalidGrant("code_verifier is required")
			return nil
		case challenge == "" && t.CodeVerifier != "":
			// RFC 9700 §4.8: a verifier for a code issued without a
			// challenge is a downgrade attempt (P5).
			failure = errInvalidGrant("code_verifier sent for a code issued without code_challenge")
			return nil
		case challenge != "":
			sum := sha256.Sum256([]byte(t.CodeVerifier))
			if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
				failure = errInvalidGrant("code_verifier does not match code_challenge")
				return nil
			}
		}
		u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", userID))
		if errors.Is(err, errNoUser) || (err == nil && u.isBanned(p.now())) {
			failure = errInvalidGrant("the user is no longer allowed to sign in")
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE oidc_codes SET used_at = ? WHERE code_hash = ?", p.now().UnixMilli(), hashToken(t.Code)); err != nil {
			return err
		}
		g = &grant{ID: grantID, ClientID: client.ID, User: u, Scopes: strings.Fields(scope),
			AuthTime: time.UnixMilli(authTime), Nonce: nonce, SID: sessionID}
		if access, err = p.newAccessToken(ctx, tx, g); err != nil {
			return err
		}
		refresh, err = p.newRefreshToken(ctx, tx, g, sessionID)
		return err
	})
	if err != nil {
		p.logger.Error("redeeming code", zap.Error(err))
		return nil, errServer("could not redeem the code")
	}
	if reuse {
		p.record(r, authEvent{Event: evCodeReuse, Outcome: "failure", UserID: reuseUser, ClientID: client.ID,
			Detail: "second redemption; tokens of the first revoked"})
	}
	if failure != nil {
		return nil, failure
	}
	resp, e := p.respond(ctx, g, access, refresh)
	if e == nil {
		p.record(r, authEvent{Event: evTokenIssued, Outcome: "success", UserID: g.User.ID, Email: g.User.Email,
			ClientID: client.ID, Detail: "authorization_code"})
	}
	return resp, e
}

func (p *provider) newRefreshToken(ctx context.Context, tx *store.Tx, g *grant, sessionID string) (string, error) {
	token := randomToken(32)
	now := p.now()
	_, err := tx.Exec(ctx, `INSERT INTO oidc_refresh_tokens (token_hash, grant_id, client_id, user_id, session_id, scope,
		auth_time, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(token), g.ID, g.ClientID, g.User.ID,
		sessionID, strings.Join(g.Scopes, " "), g.AuthTime.UnixMilli(), now.UnixMilli(), now.Add(p.refreshTTL).UnixMilli())
	return token, err
}

// respond signs the tokens (outside the transaction: RS256 costs ~1.3 ms).
func (p *provider) respond(ctx context.Context, g *grant, access *accessClaims, refresh string) (*tokenResponse, *oauthError) {
	at, key, err := p.signAccessToken(ctx, access)
	if err != nil {
		p.logger.Error("signing access token", zap.Error(err))
		return nil, errServer("could not sign the token")
	}
	resp := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(p.accessTTL.Seconds()),
		RefreshToken: refresh, Scope: strings.Join(g.Scopes, " ")}
	if g.has("openid") {
		if resp.IDToken, err = p.idToken(ctx, g, at, key); err != nil {
			p.logger.Error("signing ID token", zap.Error(err))
			return nil, errServer("could not sign the token")
		}
	}
	return resp, nil
}

// refresh rotates a refresh token; presenting a rotated one again revokes
// the whole family (S8, RFC 9700 §4.14).
func (p *provider) refresh(r *http.Request, db *store.DB, client *Client, t *tokenRequest) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	var (
		g         *grant
		access    *accessClaims
		next      string
		reuse     bool
		reuseUser string
		failure   *oauthError
	)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		var grantID, clientID, userID, sessionID, scope string
		var authTime, expires int64
		var used, revoked sql.NullInt64
		err := tx.QueryRow(ctx, `SELECT grant_id, client_id, user_id, session_id, scope, auth_time, expires_at, used_at, revoked_at
			FROM oidc_refresh_tokens WHERE token_hash = ?`+forUpdate(tx), hashToken(t.RefreshToken)).
			Scan(&grantID, &clientID, &userID, &sessionID, &scope, &authTime, &expires, &used, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			failure = errInvalidGrant("the refresh token is invalid")
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case clientID != client.ID:
			failure = errInvalidGrant("the refresh token was issued to another client") // B37
			return nil
		case revoked.Valid:
			failure = errInvalidGrant("the refresh token has been revoked")
			return nil
		case used.Valid:
			reuse, reuseUser = true, userID
			failure = errInvalidGrant("the refresh token has already been used; the session's tokens are revoked")
			return p.revokeGrant(ctx, tx, grantID)
		case p.now().UnixMilli() >= expires:
			failure = errInvalidGrant("the refresh token has expired")
			return nil
		}
		granted := strings.Fields(scope)
		scopes := granted
		if t.ScopeSent {
			for _, s := range t.Scopes {
				if !slices.Contains(granted, s) {
					failure = newError(http.StatusBadRequest, "invalid_scope", "scope exceeds the original grant")
					return nil
				}
			}
			scopes = dedupe(t.Scopes)
		}
		u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", userID))
		if errors.Is(err, errNoUser) || (err == nil && u.isBanned(p.now())) {
			failure = errInvalidGrant("the user is no longer allowed to sign in")
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE oidc_refresh_tokens SET used_at = ? WHERE token_hash = ?", p.now().UnixMilli(), hashToken(t.RefreshToken)); err != nil {
			return err
		}
		// The family keeps the scopes of the original grant; a narrower
		// request narrows only this response's access token.
		g = &grant{ID: grantID, ClientID: client.ID, User: u, Scopes: granted, AuthTime: time.UnixMilli(authTime), SID: sessionID}
		if next, err = p.newRefreshToken(ctx, tx, g, sessionID); err != nil {
			return err
		}
		g.Scopes = scopes
		access, err = p.newAccessToken(ctx, tx, g)
		return err
	})
	if err != nil {
		p.logger.Error("refreshing", zap.Error(err))
		return nil, errServer("could not refresh")
	}
	if reuse {
		p.record(r, authEvent{Event: evRefreshReuse, Outcome: "failure", UserID: reuseUser, ClientID: client.ID,
			Detail: "rotated refresh token presented again; family revoked"})
	}
	if failure != nil {
		return nil, failure
	}
	resp, e := p.respond(ctx, g, access, next)
	if e == nil {
		p.record(r, authEvent{Event: evTokenRefresh, Outcome: "success", UserID: g.User.ID, Email: g.User.Email, ClientID: client.ID})
	}
	return resp, e
}
