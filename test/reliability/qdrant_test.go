package reliability

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/fakeqdrant"
	"github.com/intellistack/intellistack/internal/testutil"
)

// retrieverDownMark is the start of the tutor's notice when course search
// fails (engine.NoticeRetrieverDown).
const retrieverDownMark = "Course search is unavailable"

// Qdrant down under load, then back: the tutor on the production retriever
// (the course indexed into the Qdrant fake with `intellistack index`).
// While Qdrant refuses connections every turn still gets the model's whole
// answer, with the notice that it does not draw on the course material —
// never an error; once Qdrant is back, turns use the course again without a
// restart.
func TestFaultQdrantDown(t *testing.T) {
	sc := faultScale()
	db := pgDatabase(t)
	fake, answer := pacedModel(t, sc.Tokens)
	fq, err := fakeqdrant.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fq.Stop)
	course, _ := filepath.Abs("../../examples/course")
	if out, code := testutil.RunCommand(t, []string{"OPENAI_API_KEY=k"}, "index", "--lessons", course, "--collection", "lessons",
		"--qdrant", fq.Addr, "--embeddings-url", fake.BaseURL(), "--embeddings-model", "emb"); code != 0 {
		t.Fatalf("intellistack index: %s", out)
	}
	retriever := fmt.Sprintf(`retriever qdrant {
						address %s
						collection lessons
						timeout 2s
						embeddings {
							base_url %s
							api_key sk-test
							model emb
						}
					}`, fq.Addr, fake.BaseURL())
	cfg := nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: fake.BaseURL(), Quota: sc.Quota, Retriever: retriever}
	c := testutil.StartCaddyProcess(t, cfg.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	proc := watch(pidOf(t, c))
	tl := &tally{}
	var downAt, upAt time.Time
	var upErr error
	queriesBefore := 0
	start := time.Now()
	wall := runDay(students, sc, modelAnswer(answer), tl, func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.25)
		queriesBefore = len(fq.Queries())
		fq.Stop()
		downAt = time.Now()
		at(0.55)
		upErr = fq.Restart()
		upAt = time.Now()
	})
	procLine := proc.end()
	if upErr != nil {
		t.Fatalf("the Qdrant fake did not come back: %v", upErr)
	}

	// A turn retrieves before the model's first token: one sent a moment
	// before a change may meet either side of it (the retrieval timeout is
	// 2 s); after Qdrant is back, gRPC reconnects on its own back-off
	// (the qdrant retriever caps its back-off at 2 s), so a few seconds of grace.
	type window struct {
		name        string
		from, to    time.Time
		wantNotice  bool
		plain, note int
		odd         []string
	}
	const recoveryGrace = 4 * time.Second
	windows := []*window{
		{name: "healthy before", from: start, to: downAt.Add(-time.Second)},
		{name: "Qdrant down", from: downAt.Add(500 * time.Millisecond), to: upAt.Add(-time.Second), wantNotice: true},
		{name: "Qdrant back", from: upAt.Add(recoveryGrace), to: time.Now()},
	}
	var firstPlainAfterUp time.Duration = -1
	for _, o := range tl.outcomes {
		noted := strings.Contains(strings.Join(o.notices, "\n"), retrieverDownMark)
		if !noted && o.at.After(upAt) && (firstPlainAfterUp < 0 || o.at.Sub(upAt) < firstPlainAfterUp) {
			firstPlainAfterUp = o.at.Sub(upAt)
		}
		for _, w := range windows {
			if o.at.After(w.from) && o.at.Before(w.to) {
				if noted {
					w.note++
				} else {
					w.plain++
				}
				if noted != w.wantNotice && len(w.odd) < 5 {
					w.odd = append(w.odd, fmt.Sprintf("sent %s after the window opened, notices %q", ms(o.at.Sub(w.from)), o.notices))
				}
			}
		}
	}
	var missed []string
	var extra [][2]string
	for _, w := range windows {
		extra = append(extra, [2]string{"turns sent: " + w.name, fmt.Sprintf("%d with course search, %d with the \"course search is unavailable\" notice", w.plain, w.note)})
		switch {
		case w.wantNotice && (w.plain > 0 || w.note == 0):
			missed = append(missed, fmt.Sprintf("%s: %d turns without the notice, %d with: the outage was not reported on every turn %v", w.name, w.plain, w.note, w.odd))
		case !w.wantNotice && w.note > 0:
			missed = append(missed, fmt.Sprintf("%s: %d turns still without course search: missed recovery %v", w.name, w.note, w.odd))
		}
	}
	queriesAfter := len(fq.Queries()) - queriesBefore
	if queriesAfter == 0 {
		missed = append(missed, "Qdrant was not queried after it came back")
	}
	extra = append(extra, [2]string{"recovery", fmt.Sprintf("Qdrant down for %s; first turn with course search sent %s after it was back (grace %s); %d searches after the outage began; missed: %s",
		ms(upAt.Sub(downAt)), ms(firstPlainAfterUp), recoveryGrace, queriesAfter, firstFew(missed))})
	dayReport(t, "faults: Qdrant down (retriever qdrant)", sc, students, tl, wall, []string{procLine}, modelAnswer(answer), extra)
	for _, m := range missed {
		t.Error(m)
	}
}
