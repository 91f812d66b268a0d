package chatkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/store"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testHandler builds a Handler without Caddy: the database and responder
// injected, the user taken from the X-Test-User header (as an
// authentication handler would set {http.auth.user.id}).
func testHandler(t *testing.T, db *store.DB, resp responder.Responder, clock *fakeClock, cfg func(*Handler)) http.Handler {
	t.Helper()
	h := &Handler{responder: resp, logger: zap.NewNop(), now: time.Now}
	if clock != nil {
		h.now = clock.now
	}
	if cfg != nil {
		cfg(h)
	}
	h.srv = h.newServer(func(context.Context) (*store.DB, error) { return db, nil })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repl := caddyhttp.NewTestReplacer(r)
		if u := r.Header.Get("X-Test-User"); u != "" {
			repl.Set("http.auth.user.id", u)
			repl.Set("http.auth.user.role", r.Header.Get("X-Test-Role"))
		}
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Errorf("ServeHTTP returned %v", err)
		}
	})
}

func post(t *testing.T, h http.Handler, user, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/chatkit", strings.NewReader(body))
	if user != "" {
		r.Header.Set("X-Test-User", user)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// frames splits an SSE body into decoded events.
func frames(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, f := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if f == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(f, "data: ")), &m); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

func eventTypes(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e["type"].(string))
	}
	return out
}

func threadOf(t *testing.T, evs []map[string]any) string {
	t.Helper()
	if len(evs) == 0 || evs[0]["type"] != "thread.created" {
		t.Fatalf("no thread.created first: %v", eventTypes(evs))
	}
	return evs[0]["thread"].(map[string]any)["id"].(string)
}

const hiBody = `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"Hi there"}],"quoted_text":"","attachments":[],"inference_options":{}}}}`

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	h := testHandler(t, db, &Echo{}, nil, func(h *Handler) { h.MaxRequestBody = 4096; h.MaxInputBytes = 100 })
	cases := []struct {
		name, body string
		status     int
	}{
		{"empty", ``, 400},
		{"not json", `hello`, 400},
		{"bad json", `{"type":"threads.list","params":{}`, 400},
		{"array", `[1,2]`, 400},
		{"empty object", `{}`, 400},
		{"unknown type", `{"type":"threads.explode","params":{}}`, 400},
		{"type not a string", `{"type":5,"params":{}}`, 400},
		{"missing params", `{"type":"threads.list"}`, 400},
		{"null params", `{"type":"threads.list","params":null}`, 400},
		{"params not object", `{"type":"threads.list","params":[]}`, 400},
		{"limit wrong type", `{"type":"threads.list","params":{"limit":"ten"}}`, 400},
		{"negative limit", `{"type":"threads.list","params":{"limit":-1}}`, 400},
		{"bad order", `{"type":"threads.list","params":{"order":"sideways"}}`, 400},
		{"missing thread_id", `{"type":"threads.get_by_id","params":{}}`, 400},
		{"thread_id wrong type", `{"type":"threads.get_by_id","params":{"thread_id":7}}`, 400},
		{"missing input", `{"type":"threads.create","params":{}}`, 400},
		{"missing content", `{"type":"threads.create","params":{"input":{"attachments":[]}}}`, 400},
		{"content wrong type", `{"type":"threads.create","params":{"input":{"content":"hi"}}}`, 400},
		{"unknown content type", `{"type":"threads.create","params":{"input":{"content":[{"type":"input_video","text":"x"}]}}}`, 400},
		{"content missing text", `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text"}]}}}`, 400},
		{"tag missing id", `{"type":"threads.create","params":{"input":{"content":[{"type":"input_tag","text":"x"}]}}}`, 400},
		{"bad feedback kind", `{"type":"items.feedback","params":{"thread_id":"t","item_ids":[],"kind":"meh"}}`, 400},
		{"feedback ids missing", `{"type":"items.feedback","params":{"thread_id":"t","kind":"positive"}}`, 400},
		{"update without title", `{"type":"threads.update","params":{"thread_id":"t"}}`, 400},
		{"retry without item", `{"type":"threads.retry_after_item","params":{"thread_id":"t"}}`, 400},
		{"action without type", `{"type":"threads.custom_action","params":{"thread_id":"t","action":{}}}`, 400},
		{"metadata not object", `{"type":"threads.list","params":{},"metadata":"x"}`, 400},
		{"bad page metadata", `{"type":"threads.list","params":{},"metadata":{"page":{"headings":"x"}}}`, 400},
		{"unknown top-level key", `{"type":"threads.list","params":{},"more":true}`, 400},
		{"top-level case variant", `{"Type":"threads.list","params":{}}`, 400},
		{"upper-case type beside type", `{"type":"threads.list","TYPE":"threads.create","params":{}}`, 400},
		{"duplicate type", `{"type":"threads.list","type":"threads.create","params":{}}`, 400},
		{"escaped duplicate type", `{"type":"threads.list","\u0074ype":"threads.create","params":{}}`, 400},
		{"duplicate nested key", `{"type":"threads.list","params":{"limit":1,"limit":2}}`, 400},
		{"params key case variant", `{"type":"threads.get_by_id","params":{"Thread_ID":"t"}}`, 400},
		{"case variant by Unicode folding", `{"type":"threads.list","param\u017f":{},"params":{}}`, 400},
		{"page key case variant", `{"type":"threads.list","params":{},"metadata":{"page":{"URL":"x"}}}`, 400},
		{"data after the object", `{"type":"threads.list","params":{}} {}`, 400},
		{"invalid utf-8", "{\"type\":\"threads.list\",\"params\":{},\"x\":\"\xff\"}", 400},
		{"oversized input", `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"` + strings.Repeat("a", 101) + `"}]}}}`, 413},
		{"oversized body", `{"type":"threads.list","params":{},"pad":"` + strings.Repeat("a", 5000) + `"}`, 413},
		{"unknown thread", `{"type":"threads.get_by_id","params":{"thread_id":"thr_nope"}}`, 404},
		{"bad cursor", `{"type":"threads.list","params":{"after":"thr_nope"}}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := post(t, h, "u1", tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var e struct{ Error apierror.Error }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("error body %s", w.Body)
			}
		})
	}
	// Extra keys inside params and metadata are ignored, as the reference
	// does; at the top level they are refused (above), because the
	// protocol fixes that object.
	w := post(t, h, "u1", `{"type":"threads.list","params":{"limit":5,"extra":1},"metadata":{"a":1}}`)
	if w.Code != 200 {
		t.Fatalf("extra keys: %d %s", w.Code, w.Body)
	}
	// No user: 401 JSON; not a POST: 405 JSON.
	if w := post(t, h, "", hiBody); w.Code != 401 || !strings.Contains(w.Body.String(), `"unauthenticated"`) {
		t.Fatalf("no user: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest(http.MethodGet, "/chatkit", nil)
	r.Header.Set("X-Test-User", "u1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 405 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d", rec.Code)
	}
}

// recordingResponder captures what it was given, streams a fixed reply and
// can block after some deltas until its context ends.
type recordingResponder struct {
	mu       sync.Mutex
	reqs     []*responder.Request
	deltas   []string
	blockAt  int // block after this many deltas (0: never)
	fail     error
	started  chan struct{}
	stopped  chan error
	setTitle string
}

func (r *recordingResponder) Respond(ctx context.Context, req *responder.Request, s responder.Stream) (err error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.stopped != nil {
		defer func() { r.stopped <- err }()
	}
	m, err := responder.StartMessage(s)
	if err != nil {
		return err
	}
	for i, d := range r.deltas {
		if err := m.Delta(d); err != nil {
			return err
		}
		if r.blockAt > 0 && i+1 == r.blockAt {
			if r.started != nil {
				close(r.started)
			}
			<-ctx.Done()
			return ctx.Err()
		}
	}
	if r.fail != nil {
		return r.fail
	}
	if r.setTitle != "" {
		s.SetTitle(r.setTitle)
	}
	return m.Done()
}

func (r *recordingResponder) last() *responder.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

type itemRow struct {
	Type, Body string
	Hidden     int
	Context    *string
}

func allItems(t *testing.T, db *store.DB, thread string) []itemRow {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT type, body, hidden, context FROM chatkit_items WHERE thread_id = ? ORDER BY seq", thread)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []itemRow
	for rows.Next() {
		var r itemRow
		if err := rows.Scan(&r.Type, &r.Body, &r.Hidden, &r.Context); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestPageContextReachesResponderAndIsStored(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		rr := &recordingResponder{deltas: []string{"ok"}}
		h := testHandler(t, db, rr, nil, func(h *Handler) { h.MaxSelectionBytes = 10 })
		body := `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"Explain"}],"attachments":[],"inference_options":{}}},
			"metadata":{"page":{"url":"https://learn.example/python/loops","title":"Loops","headings":["For loops","While"],"selected_text":"for i in range(10): print(i)","course":"python"}}}`
		w := post(t, h, "u1", body, "X-Lesson-Stage", "2", "X-Page-Title", "ignored: metadata wins", "Accept-Language", "de")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		thread := threadOf(t, frames(t, w.Body.String()))
		got := rr.last()
		want := responder.PageContext{URL: "https://learn.example/python/loops", Title: "Loops",
			Headings: []string{"For loops", "While"}, Selection: "for i in r", Course: "python", Stage: "2"}
		if g, _ := json.Marshal(got.Page); string(g) != mustJSON(want) {
			t.Fatalf("page context %s, want %s", g, mustJSON(want))
		}
		if got.User.ID != "u1" || got.Locale != "de" || got.Input.Text() != "Explain" {
			t.Fatalf("request %+v", got)
		}
		items := allItems(t, db, thread)
		if items[0].Type != "user_message" || items[0].Context == nil || *items[0].Context != mustJSON(want) {
			t.Fatalf("stored context %v", items[0].Context)
		}
		var meta string
		if err := db.QueryRow(context.Background(), "SELECT metadata FROM chatkit_threads WHERE id = ?", thread).Scan(&meta); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(meta, `"course":"python"`) || !strings.Contains(meta, `"stage":"2"`) || !strings.Contains(meta, `"url":"https://learn.example/python/loops"`) {
			t.Fatalf("thread metadata %s", meta)
		}
		// Never echoed: the thread on the wire has empty metadata.
		if strings.Contains(w.Body.String(), "learn.example") {
			t.Fatalf("page context leaked into the stream: %s", w.Body)
		}
		// A follow-up without page context gets the thread's.
		w = post(t, h, "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+thread+`","input":{"content":[{"type":"input_text","text":"more"}],"attachments":[],"inference_options":{}}}}`,
			"X-Page-Headings", "A | B%20C", "X-Page-Url", "https://learn.example/x")
		if w.Code != 200 {
			t.Fatal(w.Body)
		}
		if p := rr.last().Page; p.URL != "https://learn.example/x" || len(p.Headings) != 2 || p.Headings[1] != "B C" {
			t.Fatalf("header page context %+v", p)
		}
		if h := rr.last().History; len(h) != 2 || h[0].ItemType() != "user_message" || h[1].ItemType() != "assistant_message" {
			t.Fatalf("history %v", h)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCancellation: the client disconnects after two deltas; the responder's
// context ends, the partial answer is stored with the hidden note, and the
// note never reaches items.list.
func TestCancellation(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		rr := &recordingResponder{deltas: []string{"Partial ", "answer", " never sent"}, blockAt: 2,
			started: make(chan struct{}), stopped: make(chan error, 1)}
		srv := httptest.NewServer(testHandler(t, db, rr, nil, nil))
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(hiBody))
		req.Header.Set("X-Test-User", "u1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		next := readFrames(resp.Body)
		var thread string
		deltas := 0
		for deltas < 2 {
			f, err := next()
			if err != nil {
				t.Fatal(err)
			}
			if f["type"] == "thread.created" {
				thread = f["thread"].(map[string]any)["id"].(string)
			}
			if u, ok := f["update"].(map[string]any); ok && u["type"] == protocol.UpdateTextDelta {
				deltas++
			}
		}
		<-rr.started
		cancel()
		resp.Body.Close()
		select {
		case err := <-rr.stopped:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("responder ended with %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the responder was not cancelled")
		}
		// The handler persists after the responder returns.
		var items []itemRow
		for i := 0; i < 200; i++ {
			if items = allItems(t, db, thread); len(items) == 3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(items) != 3 || items[1].Type != "assistant_message" || items[2].Type != "sdk_hidden_context" || items[2].Hidden != 1 {
			t.Fatalf("stored %+v", items)
		}
		it, _ := protocol.DecodeItem([]byte(items[1].Body))
		if txt := it.(*protocol.AssistantMessageItem).Text(); txt != "Partial answer" {
			t.Fatalf("partial text %q", txt)
		}
		w := post(t, testHandler(t, db, rr, nil, nil), "u1", `{"type":"items.list","params":{"thread_id":"`+thread+`","order":"asc"}}`)
		if strings.Contains(w.Body.String(), "sdk_hidden_context") || strings.Count(w.Body.String(), `"id"`) != 2 {
			t.Fatalf("items.list after cancel: %s", w.Body)
		}
		// The next turn sees the note in its history.
		rr2 := &recordingResponder{deltas: []string{"x"}}
		post(t, testHandler(t, db, rr2, nil, nil), "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+thread+`","input":{"content":[{"type":"input_text","text":"again"}],"attachments":[],"inference_options":{}}}}`)
		if hist := rr2.last().History; len(hist) != 3 || hist[2].ItemType() != "sdk_hidden_context" {
			t.Fatalf("history after cancel %v", hist)
		}
	})
}

func readFrames(r io.Reader) func() (map[string]any, error) {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	return func() (map[string]any, error) {
		for {
			if i := bytes.Index(buf, []byte("\n\n")); i >= 0 {
				f := buf[:i]
				buf = buf[i+2:]
				var m map[string]any
				err := json.Unmarshal(bytes.TrimPrefix(f, []byte("data: ")), &m)
				return m, err
			}
			n, err := r.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if err != nil && n == 0 {
				return nil, err
			}
		}
	}
}

// TestMaxStreamDuration: a responder that never finishes is stopped; the
// client gets the partial item as done and a retryable error event.
func TestMaxStreamDuration(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	rr := &recordingResponder{deltas: []string{"slow ", "thinking"}, blockAt: 2, started: make(chan struct{})}
	h := testHandler(t, db, rr, nil, func(h *Handler) { h.MaxStreamDuration = caddy.Duration(200 * time.Millisecond) })
	w := post(t, h, "u1", hiBody)
	evs := frames(t, w.Body.String())
	ty := eventTypes(evs)
	if n := len(ty); n < 3 || ty[n-2] != "thread.item.done" || ty[n-1] != "error" {
		t.Fatalf("events %v", ty)
	}
	if e := evs[len(evs)-1]; e["allow_retry"] != true || e["code"] != "custom" {
		t.Fatalf("error event %v", e)
	}
	thread := threadOf(t, evs)
	items := allItems(t, db, thread)
	if len(items) != 3 || !strings.Contains(items[1].Body, "slow thinking") {
		t.Fatalf("stored %+v", items)
	}
}

// TestResponderError: pending items are removed, then an error event; a
// user-facing error keeps its message, any other is stream.error.
func TestResponderError(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("model exploded"), `{"type":"error","code":"stream.error","allow_retry":true}`},
		{&responder.UserError{Message: "Closed for today."}, `{"type":"error","code":"custom","message":"Closed for today.","allow_retry":false}`},
	} {
		rr := &recordingResponder{deltas: []string{"a"}, fail: tc.err}
		w := post(t, testHandler(t, db, rr, nil, nil), "u1", hiBody)
		evs := frames(t, w.Body.String())
		ty := eventTypes(evs)
		if ty[len(ty)-2] != "thread.item.removed" {
			t.Fatalf("events %v", ty)
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(tc.want), &want)
		if got := mustJSON(evs[len(evs)-1]); got != mustJSON(want) {
			t.Fatalf("error event %s, want %s", got, tc.want)
		}
		if strings.Contains(w.Body.String(), "exploded") {
			t.Fatal("internal error text leaked")
		}
		if items := allItems(t, db, threadOf(t, evs)); len(items) != 1 {
			t.Fatalf("stored %d items after a failed turn", len(items))
		}
	}
}

// TestUsageAndRetention: per-user daily counters (injected clock) and the
// retention sweep by last activity.
func TestUsageAndRetention(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		clock := &fakeClock{t: time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)}
		h := testHandler(t, db, &Echo{}, clock, nil)
		evs := frames(t, post(t, h, "u1", hiBody).Body.String())
		old := threadOf(t, evs)
		post(t, testHandler(t, db, &Echo{Fail: "boom"}, clock, nil), "u1", strings.Replace(hiBody, "Hi there", "boom now", 1))
		clock.advance(2 * time.Minute) // next UTC day
		fresh := threadOf(t, frames(t, post(t, h, "u2", hiBody).Body.String()))
		post(t, h, "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+old+`","input":{"content":[{"type":"input_text","text":"x"}],"attachments":[],"inference_options":{}}}}`)

		rows, err := (&storage{db: db}).usage(context.Background(), "", "2026-03-01", "2026-03-02", 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]UsageRow{}
		for _, r := range rows {
			got[r.User+" "+r.Day] = r
		}
		if r := got["u1 2026-03-01"]; r.Messages != 2 || r.Replies != 1 || r.Errors != 1 {
			t.Fatalf("u1 day 1: %+v", r)
		}
		if r := got["u1 2026-03-02"]; r.Messages != 1 || r.Replies != 1 {
			t.Fatalf("u1 day 2: %+v", r)
		}
		if r := got["u2 2026-03-02"]; r.Messages != 1 || r.Replies != 1 || len(rows) != 3 {
			t.Fatalf("rows %+v", rows)
		}

		// Retention: u1's old thread was active at day 2; u2's too. Forty
		// days later, a new thread stays while both old ones go.
		clock.advance(40 * 24 * time.Hour)
		newest := threadOf(t, frames(t, post(t, h, "u1", hiBody).Body.String()))
		n, err := deleteInactive(context.Background(), db, clock.now(), 30*24*time.Hour)
		if err != nil || n != 3 {
			t.Fatalf("deleted %d (%v), want 3", n, err)
		}
		for _, id := range []string{old, fresh} {
			if items := allItems(t, db, id); len(items) != 0 {
				t.Fatalf("items of %s survived", id)
			}
		}
		if items := allItems(t, db, newest); len(items) != 2 {
			t.Fatalf("newest thread lost items")
		}
	})
}
