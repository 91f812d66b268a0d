package chatkit_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit"
)

func init() {
	caddy.RegisterModule(testIdentity{})
	httpcaddyfile.RegisterHandlerDirective("test_identity", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		return new(testIdentity), nil
	})
}

// testIdentity stands in for an authentication handler in tests: it sets
// {http.auth.user.id} and {http.auth.user.role} from X-Test-User and
// X-Test-Role (never do this outside tests).
type testIdentity struct{}

func (testIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.test_identity", New: func() caddy.Module { return new(testIdentity) }}
}

func (testIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if u := r.Header.Get("X-Test-User"); u != "" {
		repl.Set("http.auth.user.id", u)
		repl.Set("http.auth.user.role", r.Header.Get("X-Test-Role"))
	}
	return next.ServeHTTP(w, r)
}

// TestIsolation: Bob gets exactly the answer for a missing thread on every
// operation that names Alice's thread, and Alice's thread is untouched.
func TestIsolation(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, basicAuthSite(t, database, "responder echo"))
		alice := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), user: "alice", pass: "alice-pw"}
		bob := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), user: "bob", pass: "bob-pw"}
		evs := alice.stream(createBody("Alice's secret"))
		aliceThread := evs[0].M["thread"].(map[string]any)["id"].(string)
		var aliceItems []string
		for _, e := range evs {
			if e.Type == "thread.item.done" {
				aliceItems = append(aliceItems, e.M["item"].(map[string]any)["id"].(string))
			}
		}
		var before string
		_, b := alice.jsonOp(`{"type":"threads.get_by_id","params":{"thread_id":"` + aliceThread + `"}}`)
		before = string(b)
		bobThread := bob.stream(createBody("Bob's own"))[0].M["thread"].(map[string]any)["id"].(string)

		ops := []string{
			`{"type":"threads.get_by_id","params":{"thread_id":"%s"}}`,
			`{"type":"items.list","params":{"thread_id":"%s"}}`,
			`{"type":"threads.update","params":{"thread_id":"%s","title":"pwned"}}`,
			`{"type":"items.feedback","params":{"thread_id":"%s","item_ids":["` + aliceItems[1] + `"],"kind":"negative"}}`,
			`{"type":"threads.add_user_message","params":{"thread_id":"%s","input":{"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}}}`,
			`{"type":"threads.retry_after_item","params":{"thread_id":"%s","item_id":"` + aliceItems[0] + `"}}`,
			`{"type":"threads.add_client_tool_output","params":{"thread_id":"%s","result":{}}}`,
			`{"type":"threads.add_structured_input","params":{"thread_id":"%s","item_id":"x","input":{"status":"skipped","answers":{}}}}`,
			`{"type":"threads.custom_action","params":{"thread_id":"%s","item_id":null,"action":{"type":"x"}}}`,
			`{"type":"threads.sync_custom_action","params":{"thread_id":"%s","item_id":null,"action":{"type":"x"}}}`,
			`{"type":"threads.delete","params":{"thread_id":"%s"}}`,
		}
		for _, op := range ops {
			missing := bob.expectError(fmt.Sprintf(op, "thr_0000000000000000"), 404)
			foreign := bob.expectError(fmt.Sprintf(op, aliceThread), 404)
			if missing != foreign {
				t.Fatalf("%s: foreign thread answers %s, missing thread %s", op, foreign, missing)
			}
		}
		// Cursors naming Alice's objects are as unknown as made-up ones.
		for _, op := range []string{
			`{"type":"threads.list","params":{"after":"%s"}}`,
			`{"type":"items.list","params":{"thread_id":"` + bobThread + `","after":"%s"}}`,
		} {
			missing := bob.expectError(fmt.Sprintf(op, "thr_0000000000000000"), 400)
			for _, id := range append([]string{aliceThread}, aliceItems...) {
				if foreign := bob.expectError(fmt.Sprintf(op, id), 400); foreign != missing {
					t.Fatalf("%s: %s vs %s", op, foreign, missing)
				}
			}
		}
		var list struct {
			Data []struct{ ID string } `json:"data"`
		}
		bob.mustJSON(`{"type":"threads.list","params":{"limit":9999}}`, &list)
		if len(list.Data) != 1 || list.Data[0].ID != bobThread {
			t.Fatalf("bob lists %+v", list.Data)
		}
		if _, after := alice.jsonOp(`{"type":"threads.get_by_id","params":{"thread_id":"` + aliceThread + `"}}`); string(after) != before {
			t.Fatalf("alice's thread changed:\n%s\n%s", before, after)
		}
	})
}

// TestMatcher: chatkit_op matches by the body's type and puts the body
// back; it reads as much as the handler does, so a type after 70 KB of
// metadata matches too, and a body it cannot classify matches (fails
// closed) while the handler refuses it.
func TestMatcher(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	route /chatkit {
		test_identity
		@send chatkit_op threads.create threads.add_user_message
		header @send X-Chatkit-Send yes
		chatkit {
			responder echo
		}
	}
}
`)
	cl := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), header: http.Header{"X-Test-User": {"u1"}}}
	resp := cl.do(createBody("hello"))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Chatkit-Send") != "yes" || !strings.Contains(string(body), "Echo: hello") {
		t.Fatalf("threads.create: header %q body %s", resp.Header.Get("X-Chatkit-Send"), body)
	}
	resp = cl.do(`{"type":"threads.list","params":{}}`)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Chatkit-Send") != "" {
		t.Fatalf("threads.list matched or failed: %d", resp.StatusCode)
	}
	pad := strings.Repeat("x", 70<<10)
	resp = cl.do(`{"metadata":{"pad":"` + pad + `"},"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"late type"}],"attachments":[],"inference_options":{}}}}`)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Chatkit-Send") != "yes" || !strings.Contains(string(body), "Echo: late type") {
		t.Fatalf("padded body: header %q, body %.200s", resp.Header.Get("X-Chatkit-Send"), body)
	}
	resp = cl.do(`{"pad":"` + pad + `","type":"threads.list","params":{}}`)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Chatkit-Send") != "yes" {
		t.Fatalf("unknown top-level key: %d, header %q, body %.200s", resp.StatusCode, resp.Header.Get("X-Chatkit-Send"), body)
	}
	if err := (&chatkit.MatchOp{Operations: []string{"threads.creat"}}).Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Fatalf("typo in chatkit_op accepted: %v", err)
	}
}

func slowSite(prefix string, gzip bool) string {
	enc := ""
	if gzip {
		enc = "encode gzip"
	}
	return fmt.Sprintf(`https://localhost {
	route /chatkit {
		test_identity
		%s
		chatkit {
			responder echo {
				prefix %q
				delay 150ms
			}
		}
	}
}
`, enc, prefix)
}

const longText = "one two three four five six seven eight nine ten eleven twelve"

// storedItems counts a thread's stored items through items.list.
func storedItems(t *testing.T, cl *ckClient, thread string) []map[string]any {
	var page struct {
		Data []map[string]any `json:"data"`
	}
	cl.mustJSON(`{"type":"items.list","params":{"thread_id":"`+thread+`","order":"asc"}}`, &page)
	return page.Data
}

// streamUntilFirstDelta opens a stream, reads frames up to the first
// delta, and returns the thread id and the frame reader.
func streamUntilFirstDelta(t *testing.T, cl *ckClient, r io.Reader) (string, func() ([]byte, error)) {
	t.Helper()
	next := readEvents(r)
	thread := ""
	for {
		f, err := next()
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		e := cl.decodeFrame(f)
		if e.Type == "thread.created" {
			thread = e.M["thread"].(map[string]any)["id"].(string)
		}
		if u, ok := e.M["update"].(map[string]any); ok && u["type"] == "assistant_message.content_part.text_delta" {
			return thread, next
		}
	}
}

// finishStream reads the rest and returns the final assistant text.
func finishStream(t *testing.T, cl *ckClient, next func() ([]byte, error)) string {
	t.Helper()
	text := ""
	for {
		f, err := next()
		if err == io.EOF {
			return text
		}
		if err != nil {
			t.Fatalf("stream broke: %v", err)
		}
		e := cl.decodeFrame(f)
		if e.Type == "thread.item.done" && e.M["item"].(map[string]any)["type"] == "assistant_message" {
			text = e.M["item"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"].(string)
		}
	}
}

// TestReloadDuringStream: a config reload does not cut a running stream;
// new requests get the new config.
func TestReloadDuringStream(t *testing.T) {
	sc := loadSchemas(t)
	c := testutil.StartCaddy(t, slowSite("Old: ", false))
	cl := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), header: http.Header{"X-Test-User": {"u1"}}, sc: sc}
	resp := cl.do(createBody(longText))
	defer resp.Body.Close()
	thread, next := streamUntilFirstDelta(t, cl, resp.Body)
	// Flushed before the reply is done: nothing but the user item is stored.
	if n := len(storedItems(t, cl, thread)); n != 1 {
		t.Fatalf("%d items stored while streaming", n)
	}
	if err := c.Load(slowSite("New: ", false)); err != nil {
		t.Fatal(err)
	}
	fresh := cl.stream(createBody("hi"))
	if got := assistantText(fresh); got != "New: hi" {
		t.Fatalf("after reload a new request got %q", got)
	}
	if got := finishStream(t, cl, next); got != "Old: "+longText {
		t.Fatalf("old stream finished with %q", got)
	}
	if n := len(storedItems(t, cl, thread)); n != 2 {
		t.Fatalf("%d items stored after the stream", n)
	}
}

// TestEncodeGzip: behind `encode gzip` the stream is compressed and still
// delivered event by event.
func TestEncodeGzip(t *testing.T) {
	sc := loadSchemas(t)
	c := testutil.StartCaddy(t, slowSite("Echo: ", true))
	cl := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"),
		header: http.Header{"X-Test-User": {"u1"}, "Accept-Encoding": {"gzip"}}, sc: sc}
	resp := cl.do(createBody(longText))
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	thread, next := streamUntilFirstDelta(t, cl, zr)
	if n := len(storedItems(t, cl, thread)); n != 1 {
		t.Fatalf("%d items stored while streaming: events were held back", n)
	}
	if got := finishStream(t, cl, next); got != "Echo: "+longText {
		t.Fatalf("reply %q", got)
	}
}

// TestUsageEndpoint: admins read usage, others get 403, anonymous 401.
func TestUsageEndpoint(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	route /chatkit {
		test_identity
		chatkit {
			responder echo
		}
	}
	route /admin/chat-usage {
		test_identity
		chatkit_usage
	}
}
`)
	for _, u := range []string{"u1", "u1", "u2"} {
		cl := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), header: http.Header{"X-Test-User": {u}}}
		cl.stream(createBody("hi"))
	}
	get := func(user, role, query string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, c.URL("/admin/chat-usage"+query), nil)
		if user != "" {
			req.Header.Set("X-Test-User", user)
			req.Header.Set("X-Test-Role", role)
		}
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if s, b := get("", "", ""); s != 401 {
		t.Fatalf("anonymous: %d %s", s, b)
	}
	if s, b := get("u1", "student", ""); s != 403 || !strings.Contains(string(b), "forbidden") {
		t.Fatalf("student: %d %s", s, b)
	}
	if s, b := get("boss", "admin", "?from=yesterday"); s != 400 {
		t.Fatalf("bad date: %d %s", s, b)
	}
	s, b := get("boss", "instructor,admin", "")
	var out struct {
		Data []struct {
			User     string  `json:"user"`
			Messages int     `json:"messages"`
			Replies  int     `json:"replies"`
			TTFT     float64 `json:"avg_time_to_first_token_ms"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); s != 200 || err != nil {
		t.Fatalf("admin: %d %s", s, b)
	}
	got := map[string]int{}
	for _, r := range out.Data {
		got[r.User] += r.Messages
		if r.Replies != r.Messages {
			t.Fatalf("row %+v", r)
		}
	}
	if got["u1"] != 2 || got["u2"] != 1 {
		t.Fatalf("usage %s", b)
	}
	_, b = get("boss", "admin", "?user=u2")
	if !strings.Contains(string(b), `"u2"`) || strings.Contains(string(b), `"u1"`) {
		t.Fatalf("user filter: %s", b)
	}
}

func TestCaddyfileAdapt(t *testing.T) {
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}

func TestCaddyfileErrors(t *testing.T) {
	for _, cf := range []string{
		"chatkit extra",
		"chatkit {\n bogus 1\n}",
		"chatkit {\n responder\n}",
		"chatkit {\n responder nosuch\n}",
		"chatkit {\n max_input -5\n}",
		"chatkit {\n max_page_size\n}",
		"chatkit {\n max_stream_duration soon\n}",
		"chatkit {\n responder echo {\n bogus\n }\n}",
		"chatkit {\n responder echo extra\n}",
		"chatkit {\n retention 1d 2d\n}",
		"chatkit {\n thread_order newest\n}",
		"chatkit {\n thread_order\n}",
	} {
		if err := new(chatkit.Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(cf)); err == nil {
			t.Errorf("accepted %q", cf)
		}
	}
	for _, cf := range []string{"chatkit_op", "chatkit_op a {\n x\n}"} {
		var m chatkit.MatchOp
		if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(cf)); err == nil {
			t.Errorf("accepted %q", cf)
		}
	}
	if err := new(chatkit.Usage).UnmarshalCaddyfile(caddyfile.NewTestDispenser("chatkit_usage {\n admin_role a b\n}")); err == nil {
		t.Error("accepted two admin roles")
	}
	var h chatkit.Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("chatkit {\n responder echo\n max_input 10\n retention 30d\n}")); err != nil {
		t.Fatal(err)
	}
	if h.MaxInputBytes != 10 || h.Retention != caddy.Duration(30*24*time.Hour) || !strings.Contains(string(h.ResponderRaw), `"name":"echo"`) {
		t.Fatalf("parsed %+v", h)
	}
	if err := testutil.TryStartCaddy(t, "https://localhost {\nchatkit\n}"); err == nil || !strings.Contains(err.Error(), "responder") {
		t.Errorf("chatkit without responder: %v", err)
	}
}

// TestReadTimeoutThroughCaddy: behind chatkit_op, a trickled body is cut
// by the matcher's read_timeout (Caddy's read_idle_timeout never fires: a
// byte arrives every 100 ms); the matcher fails closed and the handler
// answers 408.
func TestReadTimeoutThroughCaddy(t *testing.T) {
	c := testutil.StartCaddy(t, `http://localhost {
	route /chatkit {
		test_identity
		@send chatkit_op threads.create {
			read_timeout 1s
		}
		header @send X-Chatkit-Send yes
		chatkit {
			responder echo
			read_timeout 1s
		}
	}
}
`)
	resp, body, elapsed := chatkit.TrickleBody(t, fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), "/chatkit", http.Header{"X-Test-User": {"u1"}})
	if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("X-Chatkit-Send") != "yes" {
		t.Fatalf("status %d, matched %q: %s", resp.StatusCode, resp.Header.Get("X-Chatkit-Send"), body)
	}
	if elapsed > 6*time.Second {
		t.Fatalf("answered after %v, want about 1s", elapsed)
	}
}
