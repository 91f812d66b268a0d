package bearer

import (
	"context"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// manualCache is a cache without a background refresher, on a fake clock:
// the test decides when anything is fetched.
func manualCache(t *testing.T, cfg JWKSConfig, clock *jwttest.FakeClock) *JWKSCache {
	t.Helper()
	cfg.Now = clock.Now
	c := NewJWKSCache(cfg, zap.NewNop())
	t.Cleanup(c.Close)
	return c
}

func TestJWKSCacheFetchRefreshAndRateLimit(t *testing.T) {
	t.Parallel()
	a, b, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a)
	clock := &jwttest.FakeClock{T: time.Unix(1_800_000_000, 0)}
	c := manualCache(t, JWKSConfig{JWKSURL: srv.URL + "/jwks", Interval: 5 * time.Minute, MinPeriod: 30 * time.Second}, clock)
	ctx := context.Background()

	ks := c.Current(ctx)
	if ks == nil || ks.Len() != 1 || srv.Hits.Load() != 1 {
		t.Fatalf("first fetch: %v, hits %d", ks, srv.Hits.Load())
	}
	if c.Current(ctx); srv.Hits.Load() != 1 {
		t.Fatal("Current refetched although keys are cached")
	}
	// Rotation: the new kid is only fetched once minPeriod has passed
	// since the last attempt, however many unknown kids arrive.
	srv.Set(http.StatusOK, a, b)
	for range 50 {
		c.RefreshUnknown(ctx)
	}
	if srv.Hits.Load() != 1 {
		t.Fatalf("unknown kids within minPeriod fetched %d times", srv.Hits.Load()-1)
	}
	clock.Advance(31 * time.Second)
	if ks := c.RefreshUnknown(ctx); ks.Len() != 2 || srv.Hits.Load() != 2 {
		t.Fatalf("after MinPeriod: %d keys, hits %d", ks.Len(), srv.Hits.Load())
	}
	if due := c.nextDue.Sub(clock.Now()); due != 5*time.Minute {
		t.Fatalf("next periodic refresh in %s", due)
	}

	// Outage: last-known-good keys stay, backoff starts at minPeriod.
	srv.Set(http.StatusInternalServerError)
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
		srv.Mu.Lock()
		srv.Status, srv.CacheControl = http.StatusOK, tc.cc
		srv.Mu.Unlock()
		c.refresh(ctx, false)
		if due := c.nextDue.Sub(clock.Now()); due != tc.want {
			t.Errorf("Cache-Control %q: next in %s, want %s", tc.cc, due, tc.want)
		}
	}
}

func TestJWKSCacheSingleFlight(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a)
	gate := make(chan struct{})
	srv.Mu.Lock()
	srv.Gate = gate
	srv.Mu.Unlock()
	clock := &jwttest.FakeClock{T: time.Unix(1_800_000_000, 0)}
	c := manualCache(t, JWKSConfig{JWKSURL: srv.URL + "/jwks", Interval: time.Minute, MinPeriod: time.Second}, clock)

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
	for srv.Hits.Load() == 0 {
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
	if n := srv.Hits.Load(); n != 1 {
		t.Fatalf("20 concurrent first requests made %d fetches", n)
	}
}

func TestJWKSCacheNoKeysAndDiscovery(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a)
	clock := &jwttest.FakeClock{T: time.Unix(1_800_000_000, 0)}

	// Discovery from the issuer's metadata.
	c := manualCache(t, JWKSConfig{Issuer: srv.URL + "/", Interval: time.Minute, MinPeriod: time.Second}, clock)
	if ks := c.Current(context.Background()); ks == nil || c.discovered != srv.URL+"/jwks" {
		t.Fatalf("discovery: keys %v, jwks_uri %q", ks, c.discovered)
	}
	// Metadata for another issuer is refused.
	c = manualCache(t, JWKSConfig{Issuer: "https://other.test", Interval: time.Minute, MinPeriod: time.Second}, clock)
	c.cfg.Issuer = srv.URL + "/other"
	if ks := c.Current(context.Background()); ks != nil {
		t.Fatal("accepted metadata naming another issuer")
	}

	// Never obtained: nil, and no refetch until minPeriod passed.
	srv.Set(http.StatusBadGateway)
	c = manualCache(t, JWKSConfig{JWKSURL: srv.URL + "/jwks", Interval: time.Minute, MinPeriod: 10 * time.Second}, clock)
	before := srv.Hits.Load()
	if c.Current(context.Background()) != nil || c.Current(context.Background()) != nil {
		t.Fatal("keys from a failing server")
	}
	if srv.Hits.Load()-before != 1 {
		t.Fatalf("failing source fetched %d times within minPeriod", srv.Hits.Load()-before)
	}
	if ra := c.RetryAfter(); ra != 10 {
		t.Fatalf("retryAfter = %d", ra)
	}
	srv.Set(http.StatusOK)
	clock.Advance(10 * time.Second)
	if c.Current(context.Background()) == nil {
		t.Fatal("no keys after the source recovered")
	}
}

func TestParseKeySetDropsUnusableKeys(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	doc := `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},` + string(a.PublicJWK(t)) +
		`,{"kty":"RSA","use":"enc","kid":"enc","n":"` + jwttest.B64(a.Priv.N.Bytes()) + `","e":"AQAB"}]}`
	ks, err := ParseKeySet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 1 || len(ks.candidates("hmac", "HS256")) != 0 || len(ks.candidates(a.Kid, "RS256")) != 1 || len(ks.candidates(a.Kid, "ES256")) != 0 {
		t.Fatalf("key set: %+v", ks.all)
	}
	if _, err := ParseKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)); err == nil {
		t.Fatal("a JWKS with only an HMAC key was accepted")
	}
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	c := NewTokenCache[int](16)
	c.Put(Key("one"), 1, now.Add(time.Minute), now)
	if v, ok := c.Get(Key("one"), now); !ok || v != 1 {
		t.Fatal("entry must live until its end")
	}
	if _, ok := c.Get(Key("one"), now.Add(time.Minute)); ok {
		t.Fatal("entry outlived its end")
	}
	c.Put(Key("two"), 2, now, now) // already over: not stored
	if c.Len() != 1 {
		t.Fatalf("len %d", c.Len())
	}
	for i := range 100 {
		c.Put([32]byte{byte(i), 9}, i, now.Add(time.Minute), now)
	}
	if c.Len() > 16 {
		t.Fatalf("cache grew to %d", c.Len())
	}
	if off := NewTokenCache[int](-1); off != nil || off.Len() != 0 {
		t.Fatal("disabled cache")
	}
	if _, ok := (*TokenCache[int])(nil).Get(Key("x"), now); ok {
		t.Fatal("nil cache hit")
	}
}

func TestJWKSCacheLocalIssuer(t *testing.T) {
	t.Parallel()
	a, b, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a)
	clock := &jwttest.FakeClock{T: time.Unix(1_800_000_000, 0)}
	var calls atomic.Int64
	local := func(context.Context) ([]byte, error) {
		calls.Add(1)
		return jwttest.JWKSDoc(t, b), nil
	}
	// An in-process issuer: keys without any HTTP, refreshed by the same
	// rules as a remote source.
	c := manualCache(t, JWKSConfig{Issuer: srv.URL, Local: local, Interval: time.Minute, MinPeriod: time.Second}, clock)
	if ks := c.Current(context.Background()); ks == nil || len(ks.candidates(b.Kid, "RS256")) != 1 || calls.Load() != 1 || srv.Hits.Load() != 0 {
		t.Fatalf("local issuer: keys %v, calls %d, HTTP fetches %d", ks, calls.Load(), srv.Hits.Load())
	}
	if c.RefreshUnknown(context.Background()); calls.Load() != 1 {
		t.Fatal("an unknown kid refreshed the local keys within minPeriod")
	}
	clock.Advance(time.Second)
	if c.RefreshUnknown(context.Background()); calls.Load() != 2 {
		t.Fatalf("local keys were not refreshed after minPeriod: %d calls", calls.Load())
	}
}

func TestLocalIssuers(t *testing.T) {
	t.Parallel()
	var r LocalIssuers
	if _, ok := r.Lookup("https://id.test"); ok {
		t.Fatal("empty registry found an issuer")
	}
	first := r.Register("https://id.test/", LocalIssuer{ClientIDs: []string{"web"}})
	second := r.Register("https://id.test", LocalIssuer{ClientIDs: []string{"web", "mobile"}})
	if li, ok := r.Lookup("https://id.test/"); !ok || len(li.ClientIDs) != 2 {
		t.Fatalf("the newest registration must answer: %+v", li)
	}
	second()
	second()
	if li, ok := r.Lookup("https://id.test"); !ok || len(li.ClientIDs) != 1 {
		t.Fatalf("after the newest left, the older one answers: %+v", li)
	}
	first()
	if _, ok := r.Lookup("https://id.test"); ok {
		t.Fatal("unregistered issuer still found")
	}
	// Two registries (two configs) never see each other's issuers.
	var other LocalIssuers
	other.Register("https://id.test", LocalIssuer{})
	if _, ok := r.Lookup("https://id.test"); ok {
		t.Fatal("registries share issuers")
	}
}
