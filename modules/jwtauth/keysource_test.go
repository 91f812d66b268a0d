package jwtauth

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
)

// Where a provider's keys come from, decided on first use: jwks_url over
// everything, else the in-process issuer of the config (with its client
// ids), else the process-wide registration of an older caller, else the
// issuer's discovery document.
func TestKeySourceChoice(t *testing.T) {
	t.Parallel()
	a, b, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a) // also serves discovery naming itself
	var calls atomic.Int64
	var reg bearer.LocalIssuers
	reg.Register(srv.URL, bearer.LocalIssuer{
		JWKS: func(context.Context) ([]byte, error) {
			calls.Add(1)
			return jwttest.JWKSDoc(t, b), nil
		},
		ClientIDs: []string{"web"},
	})
	source := func(issuer, jwksURL string) *keySource {
		cfg := bearer.JWKSConfig{Issuer: issuer, JWKSURL: jwksURL, Interval: time.Hour, MinPeriod: time.Minute}
		s := &keySource{remote: bearer.NewRefresher(bearer.NewJWKSCache(cfg, zap.NewNop())), issuers: &reg,
			mayBeLocal: jwksURL == "", cfg: cfg, logger: zap.NewNop()}
		t.Cleanup(func() {
			s.close()
			_ = s.remote.Destruct()
		})
		return s
	}
	has := func(ks *bearer.KeySet, k *jwttest.Key) bool { return ks != nil && ks.Len() == 1 && ks.Has(k.Kid) }

	local := source(srv.URL+"/", "")
	if ks := local.Current(context.Background()); !has(ks, b) || calls.Load() != 1 || srv.Hits.Load() != 0 {
		t.Fatalf("in-process issuer: calls %d, HTTP fetches %d", calls.Load(), srv.Hits.Load())
	}
	if ids := local.ClientIDs(); !slices.Equal(ids, []string{"web"}) {
		t.Fatalf("client ids %v", ids)
	}
	remote := source(srv.URL, srv.URL+"/jwks")
	if ks := remote.Current(context.Background()); !has(ks, a) || calls.Load() != 1 || remote.ClientIDs() != nil {
		t.Fatal("jwks_url must win over an in-process issuer")
	}
	other := jwttest.NewJWKSServer(t, a)
	if ks := source(other.URL, "").Current(context.Background()); !has(ks, a) || other.Hits.Load() != 1 {
		t.Fatal("an issuer served elsewhere: keys from its discovery document")
	}

	// The cache of an in-process issuer belongs to the provider: closing
	// the provider stops its refresher.
	local.mu.Lock()
	refresher := local.local
	local.mu.Unlock()
	local.close()
	select {
	case <-refresher.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("the local refresher outlived its provider")
	}
}

// Each config has its own registry of in-process issuers: an OpenID
// provider of one config never lends its keys to another config (or to
// another test's Caddy).
func TestLocalIssuersPerConfig(t *testing.T) {
	one, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	two, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	jwks := bearer.LocalIssuer{JWKS: func(context.Context) ([]byte, error) { return nil, nil }, ClientIDs: []string{"web"}}
	if err := RegisterLocalIssuer(one, "https://id.test", jwks); err != nil {
		t.Fatal(err)
	}
	regOne, err := LocalIssuers(one)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := LocalIssuers(one)
	regTwo, err := LocalIssuers(two)
	if err != nil {
		t.Fatal(err)
	}
	if again != regOne {
		t.Fatal("one config, two registries")
	}
	if _, ok := regOne.Lookup("https://id.test"); !ok {
		t.Fatal("registration lost")
	}
	if _, ok := regTwo.Lookup("https://id.test"); ok {
		t.Fatal("another config sees the issuer")
	}
	if err := RegisterLocalIssuer(two, "https://id.test", bearer.LocalIssuer{}); err == nil {
		t.Fatal("a local issuer without keys was accepted")
	}
}
