package reliability

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// Ten config reloads (POST /load on the admin API, what `caddy reload`
// does) while the class works, half of it on HTTP/2 and half on HTTP/1.1
// clients that re-send only a request that met a closed idle connection:
// no request may fail and no stream may be cut; quotas (in the database),
// sign-in sessions and the verification keys outlive every reload. The
// one exception is Go's: an HTTP/1.1 request the old server reads after
// its shutdown began is dropped unread on its fresh connection
// (errDroppedUnread); it is reported, and tolerated up to one per reload.
func TestReloads(t *testing.T) {
	sc := currentScale()
	const reloads = 10
	db := pgDatabase(t)
	model, answer := pacedModel(t, sc.Tokens)
	cfg := nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: model.BaseURL(), Quota: sc.Quota}
	c := testutil.StartCaddyProcess(t, cfg.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(i int) bool { return i%2 == 0 })

	proc := watch(pidOf(t, c))
	tl := &tally{allowDropped: reloads}
	var reloadTimes []time.Duration
	var reloadErrs []string
	wall := runDay(students, sc, modelAnswer(answer), tl, func(deadline time.Time) {
		every := time.Until(deadline) / (reloads + 1)
		for i := 1; i <= reloads; i++ {
			time.Sleep(every)
			cfg.Generation = i
			t0 := time.Now()
			if err := c.Load(cfg.caddyfile()); err != nil {
				reloadErrs = append(reloadErrs, fmt.Sprintf("reload %d: %v", i, err))
			}
			reloadTimes = append(reloadTimes, time.Since(t0))
		}
	})
	procLine := proc.end()

	// The last config answers; every student's session at the provider
	// still signs them in without a password (a wrong one is given: only a
	// kept session gets past the form), and their refresh tokens rotate.
	generation := ""
	if resp, err := s.client(true, nil).Get(s.URL + "/"); err == nil {
		generation = resp.Header.Get("X-Config-Generation")
		resp.Body.Close()
	}
	var lostSessions, lostRefresh []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, st := range students {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, serr := s.signIn(st.browser, st.email, "not-the-password")
			rerr := st.refresh()
			mu.Lock()
			defer mu.Unlock()
			if serr != nil {
				lostSessions = append(lostSessions, fmt.Sprintf("%s: %v", st.email, serr))
			}
			if rerr != nil {
				lostRefresh = append(lostRefresh, fmt.Sprintf("%s: %v", st.email, rerr))
			}
		}()
	}
	wg.Wait()
	h2 := 0
	for _, st := range students {
		if st.h2 {
			h2++
		}
	}
	extra := [][2]string{
		{"clients", fmt.Sprintf("%d HTTP/2 over TLS, %d HTTP/1.1 over TLS", h2, len(students)-h2)},
		{"reloads", fmt.Sprintf("%d done (admin /load p50 %s, max %s), failed: %s; generation serving after: %q",
			len(reloadTimes), ms(pct(reloadTimes, 50)), ms(pct(reloadTimes, 100)), firstFew(reloadErrs), generation)},
		{"sessions / refresh tokens lost", fmt.Sprintf("%s / %s", firstFew(lostSessions), firstFew(lostRefresh))},
	}
	dayReport(t, "reloads (one node, 10 reloads under load)", sc, students, tl, wall, []string{procLine}, modelAnswer(answer), extra)
	for _, l := range [][]string{reloadErrs, lostSessions, lostRefresh} {
		for i, p := range l {
			if i < 10 {
				t.Error(p)
			}
		}
	}
	if generation != fmt.Sprint(reloads) {
		t.Errorf("after %d reloads the site answers as generation %q", reloads, generation)
	}
}
