package bearer

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
)

// OnFetch hears every completed fetch once, success or failure, whoever
// triggered it; a fetch cut short by Close is not a result.
func TestJWKSCacheOnFetch(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	srv := jwttest.NewJWKSServer(t, a)
	clock := &jwttest.FakeClock{T: time.Unix(1_800_000_000, 0)}
	var results []error
	c := manualCache(t, JWKSConfig{JWKSURL: srv.URL + "/jwks", Interval: 5 * time.Minute, MinPeriod: 30 * time.Second,
		OnFetch: func(err error) { results = append(results, err) }}, clock)
	ctx := context.Background()

	c.Current(ctx)
	c.Current(ctx) // cached: no fetch
	srv.Set(http.StatusInternalServerError)
	clock.Advance(time.Minute)
	c.refresh(ctx, false)
	if len(results) != 2 || results[0] != nil || results[1] == nil {
		t.Fatalf("results %v, want [nil, an error]", results)
	}

	// Close while a fetch waits on the server: not reported.
	gate := make(chan struct{})
	srv.Mu.Lock()
	srv.Gate = gate
	srv.Mu.Unlock()
	clock.Advance(time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.refresh(ctx, false)
	}()
	for srv.Hits.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	<-done // the aborted fetch has ended
	close(gate)
	if len(results) != 2 {
		t.Fatalf("a fetch aborted by Close was reported: %v", results)
	}
}
