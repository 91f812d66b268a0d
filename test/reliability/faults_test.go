package reliability

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// switchServer serves a handler (the fake model, a JWKS relay) on a fixed
// address that can stop accepting (connection refused, as a server that is
// down) and come back on the same address.
type switchServer struct {
	handler http.Handler
	addr    string
	mu      sync.Mutex
	l       net.Listener
	srv     *http.Server
}

func newSwitchServer(t *testing.T, h http.Handler) *switchServer {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &switchServer{handler: h, addr: l.Addr().String()}
	m.serve(l)
	t.Cleanup(m.down)
	return m
}

func (m *switchServer) baseURL() string { return "http://" + m.addr + "/v1" }

func (m *switchServer) serve(l net.Listener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.l, m.srv = l, &http.Server{Handler: m.handler}
	go m.srv.Serve(l)
}

// down stops accepting at once; answers already streaming finish (a model
// server being stopped), and then its connections close.
func (m *switchServer) down() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv == nil {
		return
	}
	m.l.Close()
	m.srv.SetKeepAlivesEnabled(false)
	srv := m.srv
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	m.srv = nil
}

func (m *switchServer) up() error {
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may take a moment to be free again
		if l, err = net.Listen("tcp4", m.addr); err == nil {
			m.serve(l)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

const degradedMark = "retrieval-only mode"

// The model server down, then slow, under the class's load: turns sent
// while it is down or slower than first_token_timeout get the tutor's
// labelled retrieval-only answer (a complete stream, the message stored),
// never an error; once it is back, answers are the model's again without a
// restart of anything.
func TestFaultModel(t *testing.T) {
	sc := currentScale()
	sc.Duration = max(sc.Duration, 30*time.Second)
	// Degraded answers come fast: a quota big enough for the whole run, no
	// hitters (the other scenarios count quotas).
	sc.Quota, sc.Hitters = 1000, false
	db := pgDatabase(t)
	fake, answer := pacedModel(t, sc.Tokens)
	paced := fake.Default
	model := newSwitchServer(t, fake.Config.Handler)
	cfg := nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: model.baseURL(), Quota: sc.Quota, FirstTokenTimeout: "6s"}
	c := testutil.StartCaddyProcess(t, cfg.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	check := func(text string) bool { return strings.Contains(text, answer) || strings.Contains(text, degradedMark) }
	proc := watch(pidOf(t, c))
	tl := &tally{}
	var downAt, upAt, slowAt, fastAt time.Time
	var upErr error
	start := time.Now()
	wall := runDay(students, sc, check, tl, func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.2)
		model.down()
		downAt = time.Now()
		at(0.45)
		upErr = model.up()
		upAt = time.Now()
		at(0.6)
		slow := paced
		// Over first_token_timeout (6s), which is far above a healthy turn's
		// time to first token even on a saturated machine (p99 2.2 s seen),
		// so that no healthy turn degrades for want of CPU.
		slow.FirstDelay = 10 * time.Second
		fake.Answer(slow)
		slowAt = time.Now()
		at(0.8)
		fake.Answer(paced)
		fastAt = time.Now()
	})
	procLine := proc.end()
	if upErr != nil {
		t.Fatalf("model server did not come back: %v", upErr)
	}

	// Each window: what a turn sent in it must answer. Turns sent around a
	// change (a grace for those already waiting on the model) are not judged.
	type window struct {
		name           string
		from, to       time.Time
		wantDegraded   bool
		full, degraded int
		odd            []string // offsets of the turns that answered otherwise
	}
	windows := []*window{
		// A turn sent just before the model goes down may still be waiting on
		// it when it goes, and rightly degrades (CI saw one sent under a
		// second before, answered in 511 ms): three seconds of margin, as at
		// the other windows' ends.
		{name: "healthy before", from: start, to: downAt.Add(-3 * time.Second)},
		// The tutor's model client retries a failed request once, after a
		// back-off: a turn sent just before the model is back may get its
		// answer from the model.
		{name: "model down", from: downAt.Add(500 * time.Millisecond), to: upAt.Add(-3 * time.Second), wantDegraded: true},
		// A turn sent just before a change may reach the model just after it
		// on a loaded machine (time to first token p99 above 2 s has been
		// seen): three seconds of margin at each window's end, and three after
		// the model is back (its client's stale connections).
		{name: "model back", from: upAt.Add(3 * time.Second), to: slowAt.Add(-3 * time.Second)},
		{name: "model slow (10 s to first token, timeout 6 s)", from: slowAt.Add(500 * time.Millisecond), to: fastAt.Add(-2 * time.Second), wantDegraded: true},
		{name: "model fast again", from: fastAt.Add(3 * time.Second), to: time.Now()},
	}
	var firstFullAfterUp, firstFullAfterFast time.Duration = -1, -1
	for _, o := range tl.outcomes {
		full := strings.Contains(o.text, answer)
		if full && o.at.After(upAt) && o.at.Before(slowAt) && (firstFullAfterUp < 0 || o.at.Sub(upAt) < firstFullAfterUp) {
			firstFullAfterUp = o.at.Sub(upAt)
		}
		if full && o.at.After(fastAt) && (firstFullAfterFast < 0 || o.at.Sub(fastAt) < firstFullAfterFast) {
			firstFullAfterFast = o.at.Sub(fastAt)
		}
		for _, w := range windows {
			if o.at.After(w.from) && o.at.Before(w.to) {
				if full {
					w.full++
				} else {
					w.degraded++
				}
				if full == w.wantDegraded && len(w.odd) < 5 {
					w.odd = append(w.odd, fmt.Sprintf("sent %s after the window opened, answered after %s", ms(o.at.Sub(w.from)), ms(o.took)))
				}
			}
		}
	}
	var missed []string
	extra := [][2]string{}
	for _, w := range windows {
		extra = append(extra, [2]string{"turns sent: " + w.name, fmt.Sprintf("%d model answers, %d retrieval-only answers", w.full, w.degraded)})
		switch {
		case w.wantDegraded && (w.full > 0 || w.degraded == 0):
			missed = append(missed, fmt.Sprintf("%s: %d model answers, %d degraded: the fault did not degrade every turn %v", w.name, w.full, w.degraded, w.odd))
		case !w.wantDegraded && w.degraded > 0:
			missed = append(missed, fmt.Sprintf("%s: %d turns still degraded: missed recovery %v", w.name, w.degraded, w.odd))
		}
	}
	extra = append(extra, [2]string{"recovery", fmt.Sprintf("first model answer sent %s after the model came back, %s after it was fast again; missed: %s",
		ms(firstFullAfterUp), ms(firstFullAfterFast), firstFew(missed))})
	dayReport(t, "faults: model server down, then slow", sc, students, tl, wall, []string{procLine}, check, extra)
	for _, m := range missed {
		t.Error(m)
	}
}
