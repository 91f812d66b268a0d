package jwtauth

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
)

// A scripted session through Caddy, then the admin endpoint's /metrics:
// each bearer_jwt metric moved by exactly what the session did. Deltas,
// since the collectors are process-wide and other tests count into them.
func TestMetricsAtAdminEndpoint(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	down := jwttest.NewJWKSServer(t, a)
	down.Set(http.StatusInternalServerError)
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	handle /api {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[1]s/jwks
			audience api
		}
		respond "ok"
	}
	handle /admin {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[1]s/jwks
			audience api
			require_role admin
		}
		respond "admin"
	}
	handle /down {
		bearer_jwt {
			jwks_url %[3]s/jwks
		}
		respond "unreachable"
	}
}
`, keys.URL, testIssuer, down.URL))
	before := c.Metrics(t)
	for _, s := range []string{`intellistack_bearer_refusals_total{reason="missing"}`, `intellistack_bearer_jwks_fetches_total{result="error"}`} {
		if !before.Has(s) {
			t.Fatalf("%s is not shown before any request", s)
		}
	}

	now := time.Now()
	good := jwttest.SignRS256(t, a, jwttest.Claims(now, testIssuer, "api", "user-1"))
	expiredClaims := jwttest.Claims(now, testIssuer, "api", "user-1")
	expiredClaims["exp"] = now.Add(-time.Hour).Unix()
	expired := jwttest.SignRS256(t, a, expiredClaims)
	for _, step := range []struct {
		path, token string
		status      int
	}{
		{"/api", good, 200},    // keys fetched (ok), token verified
		{"/api", good, 200},    // cached keys and verdict
		{"/api", "", 401},      // missing
		{"/api", expired, 401}, // expired
		{"/admin", good, 403},  // role_required (same key cache)
		{"/admin", good, 403},  // role_required again, from the cached verdict
		{"/down", good, 503},   // the JWKS server fails: keys_unavailable
	} {
		if r := call(t, c, step.path, step.token); r.status != step.status {
			t.Fatalf("%s: status %d, want %d: %s", step.path, r.status, step.status, r.body)
		}
	}

	got := c.Metrics(t).Delta(before)
	want := map[string]float64{
		`intellistack_bearer_refusals_total{reason="missing"}`:          1,
		`intellistack_bearer_refusals_total{reason="expired"}`:          1,
		`intellistack_bearer_refusals_total{reason="role_required"}`:    2,
		`intellistack_bearer_refusals_total{reason="keys_unavailable"}`: 1,
		`intellistack_bearer_refusals_total{reason="bad_signature"}`:    0,
		`intellistack_bearer_jwks_fetches_total{result="ok"}`:           1,
		`intellistack_bearer_jwks_fetches_total{result="error"}`:        1,
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%s grew by %v, want %v", s, got[s], n)
		}
	}
	if keys.Hits.Load() != 1 || down.Hits.Load() != 1 {
		t.Errorf("JWKS requests: %d and %d, want 1 each", keys.Hits.Load(), down.Hits.Load())
	}
}
