package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// PostgreSQL restarted under load, then down for a few seconds, on a
// private cluster (the machine's shared server is never touched): requests
// meeting the outage get a clear 503 with a JSON body, or a stream ending
// in a retryable error event, never a 500, a dropped connection or a
// half-written row; once the server is back every request works again, on
// the same Caddy process.
func TestFaultPostgresRestart(t *testing.T) {
	sc := faultScale()
	pg := startPgCluster(t)
	db := pg.url()
	fake, answer := pacedModel(t, sc.Tokens)
	c := testutil.StartCaddyProcess(t, nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: fake.BaseURL(), Quota: sc.Quota}.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	pid := pidOf(t, c)
	proc := watch(pid)
	log := &callLog{}
	var ctxRows [][2]string
	var restartAt, restartedAt, stopAt, startAt, startedAt time.Time
	var faultErrs []string
	start := time.Now()
	wall, later := runOutageDay(students, sc, modelAnswer(answer), log, &ctxRows, false, func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.25)
		restartAt = time.Now()
		if err := pg.restart(); err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		restartedAt = time.Now()
		at(0.5)
		stopAt = time.Now()
		if err := pg.stop(); err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		time.Sleep(d / 6)
		startAt = time.Now()
		if err := pg.start(); err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		startedAt = time.Now()
	})
	procLine := proc.end()
	if len(faultErrs) > 0 {
		t.Fatalf("the fault could not be run: %v\n%s", faultErrs, pg.logTail())
	}
	if pidOf(t, c) != pid {
		t.Errorf("the Caddy process changed: it was restarted")
	}
	// A request in flight when the server went away may come back after it
	// returned: a second of grace after each fault ends.
	const grace = time.Second
	phases := []phase{
		{name: "healthy before", from: start, to: restartAt, healthy: true},
		{name: "pg_ctl restart -m fast", from: restartAt, to: restartedAt.Add(grace)},
		{name: "healthy after the restart", from: restartedAt.Add(grace), to: stopAt, healthy: true},
		{name: "PostgreSQL stopped", from: stopAt, to: startedAt.Add(grace)},
		{name: "healthy after the start", from: startedAt.Add(grace), to: time.Now(), healthy: true},
	}
	var firstOK time.Duration = -1
	for _, cl := range log.calls {
		if cl.class == callOK && cl.at.After(startedAt) && (firstOK < 0 || cl.at.Sub(startedAt) < firstOK) {
			firstOK = cl.at.Sub(startedAt)
		}
	}
	extra := [][2]string{
		{"faults", fmt.Sprintf("restart took %s; stopped for %s (start took %s); first request answered %s after the start",
			ms(restartedAt.Sub(restartAt)), ms(startedAt.Sub(stopAt)), ms(startedAt.Sub(startAt)), ms(firstOK))},
	}
	outageReport(t, "faults: PostgreSQL restarted, then down (private cluster)", sc, students, log, wall, phases, []string{procLine}, ctxRows, modelAnswer(answer), extra, later)
}
