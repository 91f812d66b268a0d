package jwtauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
)

// BenchmarkCachedRequest is the per-request cost of bearer_jwt_errors +
// authentication + the provider for a token already in the cache, with
// header_up: what the authenticated route adds in front of reverse_proxy.
func BenchmarkCachedRequest(b *testing.B) {
	a, _, _ := jwttest.Keys(b)
	keys := jwttest.NewJWKSServer(b, a)
	p := &Provider{JWKSURL: keys.URL + "/jwks", Audience: []string{"api"}, HeaderUp: true}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := p.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer p.Cleanup()
	auth := caddyauth.Authentication{Providers: map[string]caddyauth.Authenticator{"bearer_jwt": p}}
	_ = auth.Provision // providers set directly; the logger is only used on provider errors
	e := &ErrorWriter{}
	token := jwttest.SignRS256(b, a, jwttest.Claims(time.Now(), "", "api", "user-1"))
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	chain := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return auth.ServeHTTP(w, r, next) })
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := httptest.NewRequest(http.MethodGet, "/api", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		repl := caddyhttp.NewTestReplacer(r)
		r = r.WithContext(context.WithValue(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl), caddyhttp.VarsCtxKey, map[string]any{}))
		if err := e.ServeHTTP(w, r, chain); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestSetup is the same request setup without bearer_jwt, to
// subtract from BenchmarkCachedRequest.
func BenchmarkRequestSetup(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		r := httptest.NewRequest(http.MethodGet, "/api", nil)
		r.Header.Set("Authorization", "Bearer x")
		repl := caddyhttp.NewTestReplacer(r)
		r = r.WithContext(context.WithValue(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl), caddyhttp.VarsCtxKey, map[string]any{}))
		_ = r
	}
}
