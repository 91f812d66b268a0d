package reliability

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// answerCheck says whether a finished assistant message is an acceptable
// answer (the model's, or a degraded one during a fault).
type answerCheck func(text string) bool

// modelAnswer accepts the model's whole answer only.
func modelAnswer(answer string) answerCheck {
	return func(text string) bool { return strings.Contains(text, answer) }
}

// hitter says whether a student spends more than the quota: every tenth.
func hitter(s *student) bool { return s.n%10 == 9 }

// day is one student's session until the deadline: streaming tutor turns
// (a new thread every three messages) up to the quota — past it by two
// for the hitters, who send without pausing — the thread list, the current
// thread's history, a token refresh every fourth round, and a pause to
// read between rounds.
func (s *student) day(deadline time.Time, sc scale, check answerCheck, tl *tally) {
	rng := rand.New(rand.NewPCG(uint64(s.n), 42))
	budget := sc.Quota
	hits := sc.Hitters && hitter(s)
	if hits {
		budget += 2
	}
	thread, inThread := "", 0
	for round := 1; time.Now().Before(deadline); round++ {
		if s.sends < budget {
			if inThread >= 3 {
				thread, inThread = "", 0
			}
			text := fmt.Sprintf("student %d, message %d: why does range(5) stop before 5?", s.n, s.sends+1)
			started := time.Now()
			tr := s.send(thread, text)
			tl.add(func(t *tally) { t.requests++ })
			switch {
			case tr.status == 429:
				tl.add(func(t *tally) { t.refused429++ })
				if s.sends <= sc.Quota {
					tl.note(&tl.errs, "%s: 429 on message %d of a quota of %d", s.email, s.sends, sc.Quota)
				}
			case tr.status == 0 && errors.Is(tr.err, errDroppedUnread):
				tl.note(&tl.dropped, "%s: %v", s.email, tr.err)
			case tr.status == 0:
				tl.note(&tl.lost, "%s: %v", s.email, tr.err)
			case tr.status != 200:
				tl.note(&tl.errs, "%s: %v", s.email, tr.err)
			case tr.err != nil || !tr.complete:
				if tr.errEvent != "" {
					tl.note(&tl.errs, "%s: error event %s", s.email, tr.errEvent)
				} else {
					tl.note(&tl.cut, "%s: thread %s: %v", s.email, tr.thread, tr.err)
				}
			case !check(tr.assistant):
				tl.note(&tl.errs, "%s: unexpected answer %q", s.email, tr.assistant)
			default:
				s.accept(tr.thread, text)
				thread = tr.thread
				inThread++
				tl.add(func(t *tally) {
					t.turns++
					t.ttft = append(t.ttft, tr.ttft)
					t.outcomes = append(t.outcomes, outcome{at: started, took: time.Since(started), text: tr.assistant, notices: tr.notices})
				})
			}
			if hits && s.sends < budget {
				continue
			}
		}
		if round%2 == 0 {
			err := s.listThreads()
			tl.add(func(t *tally) { t.requests++ })
			if err != nil {
				tl.note(&tl.errs, "%s: threads.list: %v", s.email, err)
			}
		}
		if len(s.order) > 0 {
			t0 := time.Now()
			_, err := s.history(s.order[len(s.order)-1])
			d := time.Since(t0)
			tl.add(func(t *tally) { t.requests++; t.historyLat = append(t.historyLat, d) })
			if err != nil {
				tl.note(&tl.errs, "%s: items.list: %v", s.email, err)
			}
		}
		if round%4 == 0 {
			err := s.refresh()
			tl.add(func(t *tally) { t.requests++; t.refreshes++ })
			switch {
			case errors.Is(err, errDroppedUnread):
				tl.note(&tl.dropped, "%s: refresh: %v", s.email, err)
			case err != nil:
				tl.note(&tl.errs, "%s: refresh: %v", s.email, err)
			}
		}
		pause := sc.Think[0] + time.Duration(rng.Int64N(int64(sc.Think[1]-sc.Think[0])))
		if time.Until(deadline) < pause {
			return
		}
		time.Sleep(pause)
	}
}

// runDay runs every student's day at once (arrivals spread over the first
// seconds) and returns the wall time; during is called meanwhile (reloads,
// faults) and the day waits for it too.
func runDay(students []*student, sc scale, check answerCheck, tl *tally, during func(deadline time.Time)) time.Duration {
	t0 := time.Now()
	tl.context = startContext()
	deadline := t0.Add(sc.Duration)
	spread := min(5*time.Second, sc.Duration/4)
	var wg sync.WaitGroup
	for _, s := range students {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.Int64N(int64(spread))))
			s.day(deadline, sc, check, tl)
		}()
	}
	if during != nil {
		wg.Add(1)
		go func() { defer wg.Done(); during(deadline) }()
	}
	wg.Wait()
	tl.contextRows = tl.context.rows()
	return time.Since(t0)
}

// verifyAll checks every student's threads against storage and the quota
// arithmetic; it returns the lost or duplicated messages and the inexact
// quotas found, and the expected 429 count.
func verifyAll(students []*student, check answerCheck, quota int) (problems, quotas []string, want429 int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, s := range students {
		want := max(0, s.sends-quota)
		want429 += want
		if s.ok429 != want {
			quotas = append(quotas, fmt.Sprintf("%s: %d messages sent, quota %d: %d refused, want %d", s.email, s.sends, quota, s.ok429, want))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p := s.verify(check)
			mu.Lock()
			problems = append(problems, p...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return problems, quotas, want429
}

// dayReport is the table of a load scenario; it fails the test on any lost
// request, cut stream, error, lost or duplicated message, or inexact quota,
// and on requests dropped unread (errDroppedUnread) past the scenario's
// tolerance.
func dayReport(t *testing.T, title string, sc scale, students []*student, tl *tally, wall time.Duration, proc []string, check answerCheck, extra [][2]string) {
	t.Helper()
	problems, quotas, want429 := verifyAll(students, check, sc.Quota)
	accepted, retries := 0, idleResends.Swap(0)
	for _, s := range students {
		for _, texts := range s.threads {
			accepted += len(texts)
		}
	}
	target := func(d, seed time.Duration) string {
		if d < seed {
			return "(seed < " + seed.String() + ": met)"
		}
		return "(seed < " + seed.String() + ": NOT met)"
	}
	rows := [][2]string{
		{"students, load phase", fmt.Sprintf("%d for %s (wall %s), quota %d per student, model: %s to first token, %d tokens/s, %d tokens",
			len(students), sc.Duration, ms(wall), sc.Quota, firstTokenDelay, tokensPerSecond, sc.Tokens)},
		{"throughput", fmt.Sprintf("%.1f tutor turns/s (%d turns), %.1f requests/s (%d)", float64(tl.turns)/wall.Seconds(), tl.turns, float64(tl.requests)/wall.Seconds(), tl.requests)},
		{"time to first token", fmt.Sprintf("p50 %s, p99 %s, max %s %s", ms(pct(tl.ttft, 50)), ms(pct(tl.ttft, 99)), ms(pct(tl.ttft, 100)), target(pct(tl.ttft, 99), 2*time.Second))},
		{"history (items.list)", fmt.Sprintf("p50 %s, p99 %s, max %s %s", ms(pct(tl.historyLat, 50)), ms(pct(tl.historyLat, 99)), ms(pct(tl.historyLat, 100)), target(pct(tl.historyLat, 99), time.Second))},
		{"token refreshes", fmt.Sprint(tl.refreshes)},
		{"quota refusals (429)", fmt.Sprintf("%d, expected exactly %d; inexact: %s", tl.refused429, want429, firstFew(quotas))},
		{"lost requests", firstFew(tl.lost)},
		{"dropped unread by a shutting-down server (fresh HTTP/1.1 connection)", fmt.Sprintf("%s (tolerated here: %d)", firstFew(tl.dropped), tl.allowDropped)},
		{"cut streams", firstFew(tl.cut)},
		{"errors", firstFew(tl.errs)},
		{"messages accepted / lost or twice", fmt.Sprintf("%d / %s", accepted, firstFew(problems))},
		{"HTTP/1.1 idle-connection re-sends", fmt.Sprint(retries)},
	}
	rows = append(rows, extra...)
	for i, p := range proc {
		rows = append(rows, [2]string{fmt.Sprintf("Caddy process %d", i+1), p})
	}
	rows = append(rows, tl.contextRows...)
	t.Log(table(title, rows))
	var overDropped []string
	if len(tl.dropped) > tl.allowDropped {
		overDropped = tl.dropped
	}
	failed := len(tl.lost) + len(tl.cut) + len(tl.errs) + len(problems) + len(quotas) + len(overDropped)
	t.Logf("SUMMARY %s: %d students, %d turns, TTFT p99 %s, history p99 %s, lost %d, dropped unread %d (tolerated %d), cut %d, errors %d, lost/duplicated messages %d, inexact quotas %d",
		title, len(students), tl.turns, ms(pct(tl.ttft, 99)), ms(pct(tl.historyLat, 99)), len(tl.lost), len(tl.dropped), tl.allowDropped, len(tl.cut), len(tl.errs), len(problems), len(quotas))
	if failed > 0 {
		for _, l := range [][]string{tl.lost, tl.cut, tl.errs, problems, quotas, overDropped} {
			for i, p := range l {
				if i == 10 {
					break
				}
				t.Error(p)
			}
		}
	}
	if tl.turns == 0 {
		t.Error("no tutor turn completed")
	}
}
