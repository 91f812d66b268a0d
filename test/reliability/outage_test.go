package reliability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The storage faults (a database restarted or down, a disk full) cannot
// answer every request: what the modules promise is a clear error while
// the fault lasts — 503 with a JSON body, or a stream that ends with a
// retryable error event — never a 500, a dropped connection, a cut stream
// or a half-written row, and a full recovery without a restart once the
// fault is gone. outageDay is the class's day for those scenarios: every
// request is logged with its time and judged against the fault's phases.

// callClass is how a request of a fault scenario ended.
type callClass int

const (
	callOK    callClass = iota
	callClear           // 503 with a JSON error body, or a stream ending in a retryable error event
	callBad             // no answer, a 5xx other than 503, a body that is not JSON, a cut stream, an unexpected status
)

// call is one request of a fault scenario.
type call struct {
	op     string // create, add, retry, list, history, refresh
	at     time.Time
	took   time.Duration
	status int
	class  callClass
	detail string // for clear and bad: status and error code, or the error
}

// callLog gathers the calls of every student.
type callLog struct {
	mu    sync.Mutex
	calls []call
	ttft  []time.Duration
}

func (l *callLog) add(c call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// errorBody classifies a non-200 answer: a 503 with a JSON error body (the
// platform's {"error":{"code":…}} or OAuth's {"error":"…"}) is clear.
func errorBody(status int, body []byte) (callClass, string) {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	code := ""
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		var obj struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(v.Error, &obj) == nil && obj.Code != "" {
			code = obj.Code
		} else {
			_ = json.Unmarshal(v.Error, &code)
		}
	}
	if code == "" {
		return callBad, fmt.Sprintf("%d with a body that is not a JSON error: %.200q", status, body)
	}
	body = bytes.TrimSpace(body)
	if status == http.StatusServiceUnavailable {
		return callClear, fmt.Sprintf("503 %s", code)
	}
	return callBad, fmt.Sprintf("%d %s: %.200s", status, code, body)
}

// faultScale is a fault scenario's scale: the class of currentScale with a
// quota it never reaches (a refused send is counted by the quota or not
// depending on where the fault stopped it; the other scenarios count
// quotas exactly) and, in the short version, 30 students: what these
// measure is the fault, not the load.
func faultScale() scale {
	sc := currentScale()
	sc.Quota, sc.Hitters = 1000, false
	if os.Getenv("RELIABILITY") != "full" {
		sc.Students = 30
	}
	return sc
}

// pendingTurn is a user message stored by a turn that ended with a
// retryable error event: the student retries it (threads.retry_after_item)
// before sending anything else, as the widget's retry button does.
type pendingTurn struct{ thread, item, text string }

// outageDay is a student's day in a fault scenario: the rounds of day
// (streaming turns, thread list, history, refresh), with every request
// logged and classified; a turn that ended with a retryable error is
// retried at the next round.
func (s *student) outageDay(deadline time.Time, sc scale, check answerCheck, log *callLog, pending *[]pendingTurn) {
	rng := rand.New(rand.NewPCG(uint64(s.n), 43))
	thread, inThread := "", 0
	for round := 1; time.Now().Before(deadline); round++ {
		if len(*pending) > 0 {
			p := (*pending)[0]
			started := time.Now()
			tr := s.retry(p.thread, p.item)
			if s.judgeTurn(log, "retry", started, tr, check) == callOK {
				*pending = (*pending)[1:]
				thread = p.thread
			}
		} else {
			if inThread >= 3 {
				thread, inThread = "", 0
			}
			text := fmt.Sprintf("student %d, message %d: why does range(5) stop before 5?", s.n, s.sends+1)
			op := "add"
			if thread == "" {
				op = "create"
			}
			started := time.Now()
			tr := s.send(thread, text)
			switch s.judgeTurn(log, op, started, tr, check) {
			case callOK:
				s.accept(tr.thread, text)
				thread = tr.thread
				inThread++
			case callClear:
				if tr.status == http.StatusOK {
					// The stream began: the user message is stored, its
					// answer is not.
					s.accept(tr.thread, text)
					*pending = append(*pending, pendingTurn{tr.thread, tr.userItem, text})
					thread = tr.thread
					inThread++
				}
			}
		}
		if round%2 == 0 {
			s.judgeCall(log, "list", `{"type":"threads.list","params":{"limit":20}}`)
		}
		if len(s.order) > 0 {
			s.judgeCall(log, "history", `{"type":"items.list","params":{"thread_id":"`+s.order[len(s.order)-1]+`","limit":100,"order":"asc"}}`)
		}
		if round%4 == 0 {
			s.judgeRefresh(log)
		}
		pause := sc.Think[0] + time.Duration(rng.Int64N(int64(sc.Think[1]-sc.Think[0])))
		if time.Until(deadline) < pause {
			return
		}
		time.Sleep(pause)
	}
}

// judgeTurn logs a streamed turn: complete with an acceptable answer (ok),
// refused with a clear 503, or a stream that stored the user message and
// ended with a retryable error event (clear); anything else is bad.
func (s *student) judgeTurn(log *callLog, op string, started time.Time, tr turn, check answerCheck) callClass {
	c := call{op: op, at: started, took: time.Since(started), status: tr.status}
	switch {
	case tr.status == 0:
		c.class, c.detail = callBad, fmt.Sprintf("no answer: %v", tr.err)
	case tr.status != http.StatusOK:
		body := ""
		if tr.err != nil {
			body = tr.err.Error()
			if _, b, ok := strings.Cut(body, ": "); ok {
				body = b
			}
		}
		c.class, c.detail = errorBody(tr.status, []byte(body))
	case tr.errEvent != "":
		if tr.retryable && tr.thread != "" && tr.userItem != "" {
			c.class, c.detail = callClear, "error event (retryable)"
		} else {
			c.class, c.detail = callBad, fmt.Sprintf("error event %s (thread %q, user item %q)", tr.errEvent, tr.thread, tr.userItem)
		}
	case tr.err != nil || !tr.complete:
		c.class, c.detail = callBad, fmt.Sprintf("cut stream: %v", tr.err)
	case !check(tr.assistant):
		c.class, c.detail = callBad, fmt.Sprintf("unexpected answer %.200q", tr.assistant)
	}
	if c.detail != "" {
		c.detail = op + ": " + c.detail
	}
	log.add(c)
	if c.class == callOK {
		log.mu.Lock()
		log.ttft = append(log.ttft, tr.ttft)
		log.mu.Unlock()
	}
	return c.class
}

// judgeCall logs a non-streaming ChatKit request.
func (s *student) judgeCall(log *callLog, op, body string) {
	resp, t0, err := s.post(body)
	c := call{op: op, at: t0}
	if err != nil {
		c.class, c.detail = callBad, fmt.Sprintf("%s: no answer: %v", op, err)
	} else {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.status = resp.StatusCode
		switch {
		case rerr != nil:
			c.class, c.detail = callBad, fmt.Sprintf("%s: body cut: %v", op, rerr)
		case resp.StatusCode != http.StatusOK:
			c.class, c.detail = errorBody(resp.StatusCode, b)
			c.detail = op + ": " + c.detail
		case !json.Valid(b):
			c.class, c.detail = callBad, fmt.Sprintf("%s: 200 with a body that is not JSON", op)
		}
	}
	c.took = time.Since(t0)
	log.add(c)
}

// judgeRefresh logs a token refresh. A refused refresh keeps the old
// refresh token, which must still work once the fault is over (a rotation
// half-done would make it a reused token and revoke the session).
func (s *student) judgeRefresh(log *callLog) {
	t0 := time.Now()
	err := s.refresh()
	c := call{op: "refresh", at: t0, took: time.Since(t0), status: http.StatusOK}
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.Response != nil:
		c.status = re.Response.StatusCode
		c.class, c.detail = errorBody(re.Response.StatusCode, re.Body)
		c.detail = "refresh: " + c.detail
	default:
		c.status, c.class, c.detail = 0, callBad, fmt.Sprintf("refresh: no answer: %v", err)
	}
	log.add(c)
}

// phase is a span of a fault scenario; calls sent in it must all be ok
// (healthy) or may be clear errors (fault).
type phase struct {
	name     string
	from, to time.Time
	healthy  bool
	// readsOK: during this fault, reads (threads.list, items.list) must
	// still be answered (a full disk refuses writes only).
	readsOK bool
}

// runOutageDay runs every student's outageDay at once; during is called
// meanwhile (the fault) and the day waits for it too. Pending turns left
// at the end are retried (the fault is over by then): each must complete.
// With faultOutlivesDay, they are not retried but recorded as unanswered.
func runOutageDay(students []*student, sc scale, check answerCheck, log *callLog, ctxRows *[][2]string, faultOutlivesDay bool, during func(deadline time.Time)) (wall time.Duration, retriedAfter []string) {
	t0 := time.Now()
	lc := startContext()
	deadline := t0.Add(sc.Duration)
	spread := min(5*time.Second, sc.Duration/4)
	pend := make([][]pendingTurn, len(students))
	var wg sync.WaitGroup
	for i, s := range students {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.Int64N(int64(spread))))
			s.outageDay(deadline, sc, check, log, &pend[i])
		}()
	}
	if during != nil {
		wg.Add(1)
		go func() { defer wg.Done(); during(deadline) }()
	}
	wg.Wait()
	wall = time.Since(t0)
	*ctxRows = lc.rows()
	for i, s := range students {
		for _, p := range pend[i] {
			if faultOutlivesDay {
				if s.unanswered == nil {
					s.unanswered = map[string]string{}
				}
				s.unanswered[p.thread] = p.text
				continue
			}
			started := time.Now()
			if tr := s.retry(p.thread, p.item); s.judgeTurn(log, "retry", started, tr, check) != callOK {
				retriedAfter = append(retriedAfter, fmt.Sprintf("%s: retry of %s after the load: status %d, %v %s", s.email, p.thread, tr.status, tr.err, tr.errEvent))
			}
		}
	}
	return wall, retriedAfter
}

// orphanThreads lists, per student, threads that the server stores and
// the student never saw accepted (a thread created by a refused request).
func orphanThreads(students []*student) []string {
	var out []string
	for _, s := range students {
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			HasMore bool `json:"has_more"`
		}
		if err := s.call(`{"type":"threads.list","params":{"limit":100}}`, &page); err != nil {
			out = append(out, fmt.Sprintf("%s: threads.list after the load: %v", s.email, err))
			continue
		}
		for _, th := range page.Data {
			if _, ok := s.threads[th.ID]; !ok {
				out = append(out, fmt.Sprintf("%s: thread %s stored but never accepted (half-written)", s.email, th.ID))
			}
		}
		if page.HasMore {
			out = append(out, fmt.Sprintf("%s: more than 100 threads", s.email))
		}
	}
	return out
}

// outageReport is the table of a fault scenario; it fails the test on a
// bad call anywhere, a clear error in a healthy phase (a missed recovery
// after the fault), a lost, duplicated or half-written message or thread,
// or a pending turn whose retry failed after the fault.
func outageReport(t *testing.T, title string, sc scale, students []*student, log *callLog, wall time.Duration, phases []phase, proc []string, ctxRows [][2]string, check answerCheck, extra [][2]string, later []string) {
	t.Helper()
	problems, _, _ := verifyAll(students, check, sc.Quota)
	problems = append(problems, orphanThreads(students)...)
	accepted := 0
	for _, s := range students {
		for _, texts := range s.threads {
			accepted += len(texts)
		}
	}
	var bad, missed, failedReads []string
	turns := 0
	rows := [][2]string{
		{"students, load phase", fmt.Sprintf("%d for %s (wall %s), model: %s to first token, %d tokens/s, %d tokens",
			len(students), sc.Duration, ms(wall), firstTokenDelay, tokensPerSecond, sc.Tokens)},
	}
	for _, c := range log.calls {
		if c.class == callBad {
			bad = append(bad, fmt.Sprintf("%s sent %s: %s", c.op, c.at.Format("15:04:05.000"), c.detail))
		}
		if c.class == callOK && (c.op == "create" || c.op == "add" || c.op == "retry") {
			turns++
		}
	}
	// A call belongs to the phase it was sent in, except that one sent in
	// a healthy phase and still running when the fault began belongs to
	// the fault.
	phaseOf := func(c call) int {
		for i, p := range phases {
			if !c.at.Before(p.from) && c.at.Before(p.to) {
				if p.healthy && c.at.Add(c.took).After(p.to) && i+1 < len(phases) {
					return i + 1
				}
				return i
			}
		}
		return -1
	}
	for i, p := range phases {
		var ok, clear, bd int
		kinds := map[string]int{}
		for _, c := range log.calls {
			if phaseOf(c) != i {
				continue
			}
			switch c.class {
			case callOK:
				ok++
			case callClear:
				clear++
				kinds[c.detail]++
				if p.healthy {
					missed = append(missed, fmt.Sprintf("%s: %s sent %s after the phase began: %s", p.name, c.op, ms(c.at.Sub(p.from)), c.detail))
				}
				if p.readsOK && (c.op == "list" || c.op == "history") {
					failedReads = append(failedReads, fmt.Sprintf("%s: %s sent %s after the phase began: %s", p.name, c.op, ms(c.at.Sub(p.from)), c.detail))
				}
			case callBad:
				bd++
			}
		}
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%d× %s", n, k))
		}
		sort.Strings(ks)
		desc := fmt.Sprintf("%d ok, %d clear errors, %d bad", ok, clear, bd)
		if len(ks) > 0 {
			desc += " (" + strings.Join(ks, "; ") + ")"
		}
		rows = append(rows, [2]string{fmt.Sprintf("requests sent: %s (%s)", p.name, ms(p.to.Sub(p.from))), desc})
	}
	rows = append(rows,
		[2]string{"tutor turns completed", fmt.Sprintf("%d, time to first token p50 %s, p99 %s", turns, ms(pct(log.ttft, 50)), ms(pct(log.ttft, 99)))},
		[2]string{"bad answers (no answer, 500, not JSON, cut stream)", firstFew(bad)},
		[2]string{"clear errors after recovery (missed recovery)", firstFew(missed)},
		[2]string{"reads refused during a write-only fault", firstFew(failedReads)},
		[2]string{"turns left pending, retried after the load: failed", firstFew(later)},
		[2]string{"messages accepted / lost, twice or half-written", fmt.Sprintf("%d / %s", accepted, firstFew(problems))},
	)
	rows = append(rows, extra...)
	for i, p := range proc {
		rows = append(rows, [2]string{fmt.Sprintf("Caddy process %d", i+1), p})
	}
	rows = append(rows, ctxRows...)
	t.Log(table(title, rows))
	t.Logf("SUMMARY %s: %d students, %d turns, %d requests, bad %d, missed recovery %d, reads refused %d, lost/duplicated/half-written %d",
		title, len(students), turns, len(log.calls), len(bad), len(missed), len(failedReads), len(problems))
	for _, l := range [][]string{bad, missed, failedReads, later, problems} {
		for i, p := range l {
			if i == 10 {
				break
			}
			t.Error(p)
		}
	}
	if turns == 0 {
		t.Error("no tutor turn completed")
	}
}
