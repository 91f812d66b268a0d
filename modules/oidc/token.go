package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
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
func parseTokenRequest(form url.Values) (*tokenRequest, *apierror.OAuth) {
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
		return nil, apierror.NewOAuth(http.StatusBadRequest, "unsupported_grant_type", "supported grant types: authorization_code, refresh_token")
	}
	return t, nil
}

// validVerifier is RFC 7636 §4.1: 43 to 128 unreserved characters.
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

// tokenResponse is RFC 6749 §5.1 plus the id_token of OpenID Connect Core
// §3.1.3.3.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

// handleToken is the token endpoint (RFC 6749 §3.2). Every response is
// no-store (RFC 6749 §5.1).
func (p *provider) handleToken(w http.ResponseWriter, r *http.Request) {
	form, client := p.authenticatedForm(w, r, false)
	if client == nil {
		return
	}
	treq, e := parseTokenRequest(form)
	if e != nil {
		e.Write(w)
		return
	}
	st, ok := p.storageOr503(w, r)
	if !ok {
		return
	}
	var resp *tokenResponse
	switch treq.GrantType {
	case "authorization_code":
		resp, e = p.exchangeCode(r, st, client, treq)
	case "refresh_token":
		resp, e = p.refresh(r, st, client, treq)
	}
	if e != nil {
		e.Write(w)
		return
	}
	apierror.JSON(w, http.StatusOK, resp)
}

// newIssue draws the tokens of a grant issued at now to client: the access
// token's jti and, for a client with the offline_access option, the next
// refresh token (returned raw; the storage keeps its hash), which the
// storage records only for a grant with the offline_access scope (OpenID
// Connect Core §11).
func (p *provider) newIssue(now time.Time, client *Client) (storage.Issue, string) {
	is := storage.Issue{AccessJTI: randomToken(16), AccessExpires: now.Add(p.accessTTL)}
	if !client.OfflineAccess {
		return is, ""
	}
	refresh := randomToken(32)
	is.RefreshHash, is.RefreshExpires, is.RefreshScope = hashToken(refresh), now.Add(p.refreshTTL), scopeOfflineAccess
	return is, refresh
}

// scopeOfflineAccess asks for refresh tokens (OpenID Connect Core §11).
const scopeOfflineAccess = "offline_access"

// grantRefusal is the answer to a code or refresh token the storage
// refused (what names it in the description): invalid_grant (RFC 6749
// §5.2), or the error of our own check. Other errors are the server's
// (nil here).
func grantRefusal(err error, what string) *apierror.OAuth {
	var own *apierror.OAuth
	switch {
	case errors.As(err, &own):
		return own
	case errors.Is(err, storage.ErrNotFound):
		return errInvalidGrant("the " + what + " is invalid")
	case errors.Is(err, storage.ErrWrongClient):
		return errInvalidGrant("the " + what + " was issued to another client") // RFC 6819 §5.2.2.2
	case errors.Is(err, storage.ErrRevoked):
		return errInvalidGrant("the " + what + " has been revoked")
	case errors.Is(err, storage.ErrExpired):
		return errInvalidGrant("the " + what + " has expired")
	case errors.Is(err, storage.ErrUserBlocked):
		return errInvalidGrant("the user is no longer allowed to sign in")
	}
	return nil
}

// exchangeCode redeems an authorization code: single use (RFC 6749
// §4.1.2), bound to the client and the redirect URI (RFC 6749 §4.1.3) and
// to the PKCE challenge (RFC 7636 §4.6). The storage spends the code once;
// checkCode runs under its lock, so a refused attempt leaves the code to
// its rightful client.
func (p *provider) exchangeCode(r *http.Request, st storage.Storage, client *Client, t *tokenRequest) (*tokenResponse, *apierror.OAuth) {
	ctx := r.Context()
	now := p.now()
	issue, refresh := p.newIssue(now, client)
	code, u, err := st.RedeemCode(ctx, hashToken(t.Code), client.ID, now, func(c *storage.Code) error {
		return checkCode(client, c, t)
	}, issue)
	if errors.Is(err, storage.ErrReused) {
		// RFC 6749 §4.1.2: the storage revoked what the first redemption
		// issued.
		p.revocationsChanged(ctx, st)
		p.record(r, storage.Event{Event: evCodeReuse, Outcome: "failure", UserID: code.UserID, ClientID: client.ID,
			Detail: "second redemption; tokens of the first revoked"})
		return nil, errInvalidGrant("the code has already been used")
	}
	if err != nil {
		if e := grantRefusal(err, "code"); e != nil {
			return nil, e
		}
		p.logger.Error("redeeming code", zap.Error(err))
		return nil, errStorage(err, "could not redeem the code")
	}
	g := &grant{ID: code.GrantID, ClientID: client.ID, User: u, Scopes: code.Scopes, AuthTime: code.AuthTime,
		Nonce: code.Nonce, SID: code.SessionID}
	if !g.has(scopeOfflineAccess) {
		refresh = "" // not recorded
	}
	resp, e := p.respond(ctx, g, p.accessClaims(g, issue.AccessJTI, now), refresh)
	if e == nil {
		p.record(r, storage.Event{Event: evTokenIssued, Outcome: "success", UserID: u.ID, Email: u.Email,
			ClientID: client.ID, Detail: "authorization_code"})
	}
	return resp, e
}

// checkCode is what the token request must match of the code: the
// redirect URI (RFC 6749 §4.1.3) and the PKCE verifier (RFC 7636 §4.6).
func checkCode(client *Client, c *storage.Code, t *tokenRequest) error {
	if c.RedirectURI != "" && t.RedirectURI != c.RedirectURI {
		return errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if c.RedirectURI == "" && t.RedirectURI != "" && !client.allowsRedirect(t.RedirectURI) {
		return errInvalidGrant("redirect_uri does not match the authorization request")
	}
	switch {
	case c.CodeChallenge != "" && t.CodeVerifier == "":
		return errInvalidGrant("code_verifier is required")
	case c.CodeChallenge == "" && t.CodeVerifier != "":
		// RFC 9700 §4.8: a verifier for a code issued without a
		// challenge is a downgrade attempt.
		return errInvalidGrant("code_verifier sent for a code issued without code_challenge")
	case c.CodeChallenge != "":
		sum := sha256.Sum256([]byte(t.CodeVerifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.CodeChallenge)) != 1 {
			return errInvalidGrant("code_verifier does not match code_challenge")
		}
	}
	return nil
}

// respond signs the tokens (outside the transaction: RS256 costs ~1.3 ms).
func (p *provider) respond(ctx context.Context, g *grant, access *accessClaims, refresh string) (*tokenResponse, *apierror.OAuth) {
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

// refresh rotates a refresh token (RFC 6749 §6); presenting a rotated one
// again revokes the whole family (RFC 9700 §4.14), in the storage.
func (p *provider) refresh(r *http.Request, st storage.Storage, client *Client, t *tokenRequest) (*tokenResponse, *apierror.OAuth) {
	ctx := r.Context()
	now := p.now()
	issue, next := p.newIssue(now, client)
	var scopes []string
	tok, u, err := st.RotateRefresh(ctx, hashToken(t.RefreshToken), client.ID, now, func(rt *storage.RefreshToken) error {
		// The family keeps the scopes of the original grant; a narrower
		// request narrows only this response's tokens (RFC 6749 §6).
		scopes = rt.Scopes
		if t.ScopeSent {
			for _, s := range t.Scopes {
				if !slices.Contains(rt.Scopes, s) {
					return apierror.NewOAuth(http.StatusBadRequest, "invalid_scope", "scope exceeds the original grant")
				}
			}
			scopes = dedupe(t.Scopes)
		}
		return nil
	}, issue)
	if errors.Is(err, storage.ErrReused) {
		p.revocationsChanged(ctx, st)
		p.record(r, storage.Event{Event: evRefreshReuse, Outcome: "failure", UserID: tok.UserID, ClientID: client.ID,
			Detail: "rotated refresh token presented again; family revoked"})
		return nil, errInvalidGrant("the refresh token has already been used; the session's tokens are revoked")
	}
	if err != nil {
		if e := grantRefusal(err, "refresh token"); e != nil {
			return nil, e
		}
		p.logger.Error("refreshing", zap.Error(err))
		return nil, errStorage(err, "could not refresh")
	}
	g := &grant{ID: tok.GrantID, ClientID: client.ID, User: u, Scopes: scopes, AuthTime: tok.AuthTime, SID: tok.SessionID}
	if !slices.Contains(tok.Scopes, scopeOfflineAccess) {
		next = "" // not recorded
	}
	resp, e := p.respond(ctx, g, p.accessClaims(g, issue.AccessJTI, now), next)
	if e == nil {
		p.record(r, storage.Event{Event: evTokenRefresh, Outcome: "success", UserID: u.ID, Email: u.Email, ClientID: client.ID})
	}
	return resp, e
}
