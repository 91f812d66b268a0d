package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
)

// TestCodeFlowWithRealRelyingParty drives a full authorization-code + PKCE
// login through Caddy over HTTPS with go-oidc and x/oauth2 as the relying
// party, on SQLite and PostgreSQL: discovery, sign-up on the hosted page,
// consent, code exchange, ID token (signature, nonce, at_hash, auth_time),
// userinfo, refresh with rotation, revocation, silent re-login, code reuse,
// refresh reuse and RP-initiated logout.
func TestCodeFlowWithRealRelyingParty(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c, issuer := startProvider(t, database, "")
		ctx := oidc.ClientContext(context.Background(), c.Client)

		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := &oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: provider.Endpoint(),
			RedirectURL: webRedirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		verifier := provider.Verifier(&oidc.Config{ClientID: "web"})
		br := newBrowser(t, c)

		// Other paths pass through to the next handler.
		if p := br.get(c.URL("/somewhere")); p.status != 200 || p.body != "passed through" {
			t.Fatalf("pass-through: %d %q", p.status, p.body)
		}

		login := func(signUp bool) (*oauth2.Token, *oidc.IDToken, string, string) {
			state, nonce, pkce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
			authURL := conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce))
			cb := br.login(authURL, "alice@example.com", webRedirect, signUp)
			q := cb.Query()
			if q.Get("state") != state || q.Get("iss") != issuer || q.Get("code") == "" {
				t.Fatalf("callback %s: want state, iss=%s and a code", cb, issuer)
			}
			if len(q.Get("code")) < 22 {
				t.Fatalf("code %q is shorter than 128 bits", q.Get("code"))
			}
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verifying ID token: %v", err)
			}
			if idt.Nonce != nonce {
				t.Fatalf("nonce %q, want %q", idt.Nonce, nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Fatalf("at_hash: %v", err)
			}
			return tok, idt, q.Get("code"), pkce
		}

		tok, idt, code, pkce := login(true)
		var claims struct {
			AuthTime int64  `json:"auth_time"`
			Email    string `json:"email"`
			Name     string `json:"name"`
			AtHash   string `json:"at_hash"`
		}
		if err := idt.Claims(&claims); err != nil || claims.AuthTime == 0 || claims.Email != "alice@example.com" || claims.AtHash == "" {
			t.Fatalf("ID token claims %+v (%v)", claims, err)
		}
		if d := time.Since(time.Unix(claims.AuthTime, 0)); d < -time.Minute || d > time.Minute {
			t.Fatalf("auth_time %d is not recent", claims.AuthTime)
		}
		if tok.RefreshToken == "" || tok.Expiry.IsZero() {
			t.Fatalf("token response lacks refresh token or expiry: %+v", tok)
		}

		t.Logf("signed up %s, auth_time %d, access token %d bytes", idt.Subject, claims.AuthTime, len(tok.AccessToken))
		// Userinfo returns the ID token's subject.
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject || ui.Email != "alice@example.com" || !strings.Contains(string(mustJSON(t, ui)), "email") {
			t.Fatalf("userinfo %+v, want sub %s", ui, idt.Subject)
		}

		// The access token is an RFC 9068 JWT with the platform's claims.
		at := decodeJWT(t, tok.AccessToken)
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "email", "email_verified", "name", "role"} {
			if _, ok := at.payload[k]; !ok {
				t.Errorf("access token lacks %s: %v", k, at.payload)
			}
		}
		if at.header["typ"] != "at+jwt" || at.header["alg"] != "RS256" || at.header["kid"] == nil {
			t.Errorf("access token header %v", at.header)
		}

		// Refresh rotates the refresh token and keeps sub and auth_time.
		stale := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
		tok2, err := conf.TokenSource(ctx, stale).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		idt2, err := verifier.Verify(ctx, tok2.Extra("id_token").(string))
		if err != nil || idt2.Subject != idt.Subject {
			t.Fatalf("refreshed ID token: %v", err)
		}
		var claims2 struct {
			AuthTime int64 `json:"auth_time"`
		}
		_ = idt2.Claims(&claims2)
		if claims2.AuthTime != claims.AuthTime {
			t.Fatalf("auth_time changed on refresh: %d -> %d", claims.AuthTime, claims2.AuthTime)
		}

		// Revoking the refresh token kills it and its access tokens.
		rp := postForm(t, c.Client, issuer+"/oauth2/revoke", url.Values{"token": {tok2.RefreshToken}}, "web", webSecret)
		if rp.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", rp.status, rp.body)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("refresh after revocation: %v", err)
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2)); err == nil {
			t.Fatal("userinfo accepted an access token of a revoked grant")
		}

		// A second login of the same browser is silent (session and consent
		// remembered); reuse of its code fails and revokes what it issued.
		tok3, idt3, code3, pkce3 := login(false)
		if idt3.Subject != idt.Subject {
			t.Fatal("silent login changed the subject")
		}
		if _, err := conf.Exchange(ctx, code3, oauth2.VerifierOption(pkce3)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("second use of a code: %v", err)
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok3)); err == nil {
			t.Fatal("userinfo accepted a token issued from a code that was used twice")
		}
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(pkce)); err == nil {
			t.Fatal("the first code was accepted again")
		}

		// Refresh reuse revokes the family.
		tok4, _, _, _ := login(false)
		a := &oauth2.Token{RefreshToken: tok4.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
		b, err := conf.TokenSource(ctx, a).Token()
		if err != nil {
			t.Fatalf("refresh A: %v", err)
		}
		if _, err := conf.TokenSource(ctx, a).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("replay of A: %v", err)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: b.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("B still works after A was replayed")
		}

		// RP-initiated logout with a valid hint: no confirmation, session
		// revoked server-side, back to the registered URI with state.
		p := br.get(issuer + "/oauth2/end-session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)},
			"post_logout_redirect_uri": {logoutLanding}, "state": {"bye"}}.Encode())
		if p.status != http.StatusFound || p.location != logoutLanding+"?state=bye" {
			t.Fatalf("end-session: %d %q %s", p.status, p.location, p.body)
		}
		state := oauth2.GenerateVerifier()
		p = br.get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
		if u, _ := url.Parse(p.location); p.location == "" || u.Query().Get("error") != "login_required" || u.Query().Get("state") != state {
			t.Fatalf("prompt=none after logout: %d %q", p.status, p.location)
		}

		// The audit log saw it all.
		db := openDB(t, database)
		rows, err := db.Query(context.Background(), "SELECT event, outcome FROM auth_events ORDER BY created_at")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for rows.Next() {
			var ev, outcome string
			_ = rows.Scan(&ev, &outcome)
			seen[ev+"/"+outcome] = true
		}
		rows.Close()
		for _, want := range []string{"sign_up/success", "token_issued/success", "token_refreshed/success", "token_revoked/success",
			"authorization_code_reuse/failure", "refresh_token_reuse/failure", "sign_out/success"} {
			if !seen[want] {
				t.Errorf("auth_events lacks %s (have %v)", want, seen)
			}
		}
		var ip string
		_ = db.QueryRow(context.Background(), "SELECT ip FROM auth_events WHERE event = 'sign_up'").Scan(&ip)
		if ip != "127.0.0.1" {
			t.Errorf("sign_up ip %q", ip)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
