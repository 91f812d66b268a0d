package reliability

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// apiNodeCaddyfile is a node that serves the tutor for tokens of a remote
// issuer: bearer_jwt takes the keys from jwksURL (refreshed every 2 s, so
// that an outage is met many times during the scenario).
func apiNodeCaddyfile(database, issuer, jwksURL, modelURL string) string {
	course, _ := filepath.Abs("../../examples/course")
	return fmt.Sprintf(`{
	intellistack {
		database %q
		secret %s
	}
}

https://localhost {
	handle /api/v1/chatkit {
		route {
			bearer_jwt {
				issuer %s
				jwks_url %s
				require_verified_email
				claim stage
				refresh_interval 2s
				min_refresh_interval 1s
			}
			chatkit {
				responder tutor {
					model openai {
						base_url %s
						api_key sk-test
						model tutor-test
					}
					retriever lexical {
						path %s
					}
				}
			}
		}
	}
}
`, database, secret, issuer, jwksURL, modelURL, course)
}

// The JWKS issuer down under load: the class signed in at the issuer
// (node A) and talks to an API node (B) that verifies tokens with keys
// fetched over HTTP from A. While the issuer's JWKS does not answer, B
// keeps verifying with its last-known-good keys (no request refused); once
// it is back, B fetches the keys again, without a restart.
func TestFaultJWKSIssuerDown(t *testing.T) {
	sc := currentScale()
	sc.Quota, sc.Hitters = 1000, false // B has no quota; the other scenarios count quotas
	db := pgDatabase(t)
	fake, answer := pacedModel(t, sc.Tokens)
	a := testutil.StartCaddyProcess(t, nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: fake.BaseURL(), Quota: sc.Quota}.caddyfile())
	s := newSite(t, a)

	// The issuer's JWKS as B sees it: a relay in front of A's /jwks that
	// can be taken down (connection refused).
	var hits atomic.Int64
	fetcher := s.client(true, nil)
	relay := newSwitchServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		resp, err := fetcher.Get(s.URL + "/jwks")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	b := testutil.StartCaddyProcess(t, apiNodeCaddyfile(db, s.URL, "http://"+relay.addr+"/jwks", fake.BaseURL()))
	api := &site{URL: b.URL(""), rootCA: filepath.Join(b.DataDir, "pki", "authorities", "local", "root.crt")}

	students := enrol(t, s, db, sc.Students, func(int) bool { return true })
	for _, st := range students {
		st.apiURL = api.URL + "/api/v1/chatkit"
		st.api = api.client(true, nil)
	}

	procs := []*procStats{watch(pidOf(t, a)), watch(pidOf(t, b))}
	tl := &tally{}
	var hitsBefore, hitsAfterUp int64
	var downFor time.Duration
	var upErr error
	wall := runDay(students, sc, modelAnswer(answer), tl, func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.25)
		hitsBefore = hits.Load()
		relay.down()
		downAt := time.Now()
		at(0.7)
		upErr = relay.up()
		downFor = time.Since(downAt)
		upAt := hits.Load()
		at(1)
		hitsAfterUp = hits.Load() - upAt
	})
	lines := []string{"issuer (A): " + procs[0].end(), "API node (B): " + procs[1].end()}
	if upErr != nil {
		t.Fatalf("JWKS relay did not come back: %v", upErr)
	}
	var missed []string
	if hitsBefore == 0 {
		missed = append(missed, "B never fetched the issuer's keys before the outage")
	}
	if hitsAfterUp == 0 {
		missed = append(missed, "B did not fetch the keys again once the issuer was back: missed recovery")
	}
	extra := [][2]string{
		{"JWKS issuer down", fmt.Sprintf("for %s (B's refresh_interval 2s); B's JWKS fetches: %d before, %d after it came back; missed: %s",
			ms(downFor), hitsBefore, hitsAfterUp, firstFew(missed))},
	}
	dayReport(t, "faults: JWKS issuer down (bearer_jwt on a remote issuer)", sc, students, tl, wall, lines, modelAnswer(answer), extra)
	for _, m := range missed {
		t.Error(m)
	}
}
