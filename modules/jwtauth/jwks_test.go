package jwtauth

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

func manualCache(t *testing.T, cfg jwksConfig, clock *fakeClock) *jwksCache {
	t.Helper()
	c := newJWKSCache(cfg, zap.NewNop())
	c.manual = true
	c.now = clock.Now
	t.Cleanup(func() { _ = c.Destruct() })
	return c
}

func TestJWKSCacheFetchRefreshAndRateLimit(t *testing.T) {
	a, b, _ := testKeys(t)
	srv := newJWKSServer(t, a)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	c := manualCache(t, jwksConfig{jwksURL: srv.URL + "/jwks", interval: 5 * time.Minute, minPeriod: 30 * time.Second}, clock)
	ctx := context.Background()

	ks := c.Current(ctx)
	if ks == nil || ks.Len() != 1 || srv.hits.Load() != 1 {
		t.Fatalf("first fetch: %v, hits %d", ks, srv.hits.Load())
	}
	if c.Current(ctx); srv.hits.Load() != 1 {
		t.Fatal("Current refetched although keys are cached")
	}
	// Rotation: the new kid is only fetched once minPeriod has passed
	// since the last attempt, however many unknown kids arrive.
	srv.set(http.StatusOK, a, b)
	for range 50 {
		c.RefreshUnknown(ctx)
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("unknown kids within minPeriod fetched %d times", srv.hits.Load()-1)
	}
	clock.Advance(31 * time.Second)
	if ks := c.RefreshUnknown(ctx); ks.Len() != 2 || srv.hits.Load() != 2 {
		t.Fatalf("after minPeriod: %d keys, hits %d", ks.Len(), srv.hits.Load())
	}
	if due := c.nextDue.Sub(clock.Now()); due != 5*time.Minute {
		t.Fatalf("next periodic refresh in %s", due)
	}

	// Outage: last-known-good keys stay, backoff starts at minPeriod.
	srv.set(http.StatusInternalServerError)
	clock.Advance(time.Minute)
	if ks := c.refresh(ctx, false); ks == nil || ks.Len() != 2 {
		t.Fatalf("keys lost on failure: %v", ks)
	}
	if due := c.nextDue.Sub(clock.Now()); due != 30*time.Second {
		t.Fatalf("retry in %s, want 30s", due)
	}
	c.refresh(ctx, false)
	if due := c.nextDue.Sub(clock.Now()); due != time.Minute {
		t.Fatalf("second retry in %s, want 1m", due)
	}

	// Cache-Control max-age shortens the period down to minPeriod, never
	// lengthens it.
	for _, tc := range []struct {
		cc   string
		want time.Duration
	}{{"max-age=120", 2 * time.Minute}, {"public, max-age=5", 30 * time.Second}, {"max-age=86400", 5 * time.Minute}, {"no-store", 30 * time.Second}} {
		srv.mu.Lock()
		srv.status, srv.cacheControl = http.StatusOK, tc.cc
		srv.mu.Unlock()
		c.refresh(ctx, false)
		if due := c.nextDue.Sub(clock.Now()); due != tc.want {
			t.Errorf("Cache-Control %q: next in %s, want %s", tc.cc, due, tc.want)
		}
	}
}

func TestJWKSCacheSingleFlight(t *testing.T) {
	a, _, _ := testKeys(t)
	srv := newJWKSServer(t, a)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	c := manualCache(t, jwksConfig{jwksURL: srv.URL + "/jwks", interval: time.Minute, minPeriod: time.Second}, clock)

	var wg sync.WaitGroup
	results := make(chan *KeySet, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- c.Current(context.Background())
		}()
	}
	// Wait until the one fetch is at the server, then let it answer.
	for srv.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(results)
	for ks := range results {
		if ks == nil {
			t.Fatal("a waiter got no keys")
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("20 concurrent first requests made %d fetches", n)
	}
}

func TestJWKSCacheNoKeysAndDiscovery(t *testing.T) {
	a, _, _ := testKeys(t)
	srv := newJWKSServer(t, a)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}

	// Discovery from the issuer's metadata.
	c := manualCache(t, jwksConfig{issuer: srv.URL + "/", interval: time.Minute, minPeriod: time.Second}, clock)
	if ks := c.Current(context.Background()); ks == nil || c.discovered != srv.URL+"/jwks" {
		t.Fatalf("discovery: keys %v, jwks_uri %q", ks, c.discovered)
	}
	// Metadata for another issuer is refused.
	c = manualCache(t, jwksConfig{issuer: "https://other.test", interval: time.Minute, minPeriod: time.Second}, clock)
	c.cfg.issuer = srv.URL + "/other"
	if ks := c.Current(context.Background()); ks != nil {
		t.Fatal("accepted metadata naming another issuer")
	}

	// Never obtained: nil, and no refetch until minPeriod passed.
	srv.set(http.StatusBadGateway)
	c = manualCache(t, jwksConfig{jwksURL: srv.URL + "/jwks", interval: time.Minute, minPeriod: 10 * time.Second}, clock)
	before := srv.hits.Load()
	if c.Current(context.Background()) != nil || c.Current(context.Background()) != nil {
		t.Fatal("keys from a failing server")
	}
	if srv.hits.Load()-before != 1 {
		t.Fatalf("failing source fetched %d times within minPeriod", srv.hits.Load()-before)
	}
	if ra := c.retryAfter(); ra != 10 {
		t.Fatalf("retryAfter = %d", ra)
	}
	srv.set(http.StatusOK)
	clock.Advance(10 * time.Second)
	if c.Current(context.Background()) == nil {
		t.Fatal("no keys after the source recovered")
	}
}

func TestParseKeySetDropsUnusableKeys(t *testing.T) {
	a, _, _ := testKeys(t)
	doc := `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},` + string(a.publicJWK(t)) +
		`,{"kty":"RSA","use":"enc","kid":"enc","n":"` + b64(a.priv.N.Bytes()) + `","e":"AQAB"}]}`
	ks, err := parseKeySet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 1 || len(ks.candidates("hmac", "HS256")) != 0 || len(ks.candidates(a.kid, "RS256")) != 1 || len(ks.candidates(a.kid, "ES256")) != 0 {
		t.Fatalf("key set: %+v", ks.all)
	}
	if _, err := parseKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)); err == nil {
		t.Fatal("a JWKS with only an HMAC key was accepted")
	}
}

func TestTokenCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newTokenCache(16)
	v := &verdict{}
	c.put([32]byte{1}, v, now.Add(time.Minute), now)
	if c.get([32]byte{1}, now) != v || c.get([32]byte{1}, now.Add(time.Minute)) != nil {
		t.Fatal("entry must live until, and not at, its end")
	}
	c.put([32]byte{2}, v, now, now) // already over: not stored
	if c.len() != 1 {
		t.Fatalf("len %d", c.len())
	}
	for i := range 100 {
		c.put([32]byte{byte(i), 9}, v, now.Add(time.Minute), now)
	}
	if c.len() > 16 {
		t.Fatalf("cache grew to %d", c.len())
	}
	if newTokenCache(-1) != nil || newTokenCache(-1).get([32]byte{}, now) != nil {
		t.Fatal("disabled cache")
	}
}
