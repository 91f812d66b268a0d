package chatkit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/crypto/bcrypt"

	"github.com/intellistack/intellistack/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

const testSecret = "test-secret-0123456789abcdef"

// schemas are the conformance schemas, compiled once.
type schemas struct {
	request, event, thread, threadsPage, itemsPage, attachment *jsonschema.Schema
}

var (
	schemaOnce sync.Once
	schemaSet  *schemas
	schemaErr  error
	schemaDir  string
)

// loadSchemas finds ../shared/conformance/chatkit relative to the repository
// root. Without it the test is skipped with a message, or fails in CI.
func loadSchemas(t *testing.T) *schemas {
	t.Helper()
	schemaOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			schemaErr = err
			return
		}
		schemaDir = filepath.Join(root, "..", "shared", "conformance", "chatkit")
		if _, err := os.Stat(filepath.Join(schemaDir, "stream_event.schema.json")); err != nil {
			schemaErr = fmt.Errorf("conformance schemas not found in %s", schemaDir)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		compile := func(name string) *jsonschema.Schema {
			if schemaErr != nil {
				return nil
			}
			s, err := c.Compile(filepath.Join(schemaDir, name+".schema.json"))
			if err != nil {
				schemaErr = fmt.Errorf("compiling %s: %v", name, err)
			}
			return s
		}
		schemaSet = &schemas{
			request: compile("request"), event: compile("stream_event"), thread: compile("thread"),
			threadsPage: compile("threads_page"), itemsPage: compile("items_page"), attachment: compile("attachment"),
		}
	})
	if schemaErr != nil {
		if testutil.InCI() {
			t.Fatalf("%v (CI is set, so this fails instead of skipping)", schemaErr)
		}
		t.Skipf("%v; skipping schema conformance", schemaErr)
	}
	return schemaSet
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test directory")
		}
		dir = parent
	}
}

// validate checks b against s and the rules schemas cannot express: no
// null anywhere, no hidden item types.
func validate(t *testing.T, s *jsonschema.Schema, what string, b []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, b)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("%s does not match its schema: %v\n%s", what, err, b)
	}
	if strings.HasPrefix(what, "request") {
		return // clients may send nulls
	}
	var generic any
	_ = json.Unmarshal(b, &generic)
	if path := findNull(generic, "$"); path != "" {
		t.Fatalf("%s has a null at %s: %s", what, path, b)
	}
	if bytes.Contains(b, []byte(`"hidden_context_item"`)) || bytes.Contains(b, []byte(`"sdk_hidden_context"`)) {
		t.Fatalf("%s leaks a hidden item: %s", what, b)
	}
}

func findNull(v any, path string) string {
	switch v := v.(type) {
	case nil:
		return path
	case map[string]any:
		for k, e := range v {
			if p := findNull(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range v {
			if p := findNull(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// hash returns a cheap bcrypt hash for basic_auth in tests.
func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// ckClient talks to a ChatKit endpoint as one user.
type ckClient struct {
	t      *testing.T
	http   *http.Client
	url    string
	user   string
	pass   string
	header http.Header
	sc     *schemas // nil: no schema checks
}

func (c *ckClient) do(body string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", body, err)
	}
	return resp
}

// jsonOp posts a JSON operation and returns status and body; a 200 body is
// validated against the schema for that operation.
func (c *ckClient) jsonOp(body string) (int, []byte) {
	c.t.Helper()
	if c.sc != nil && json.Valid([]byte(body)) {
		var env struct{ Type string }
		_ = json.Unmarshal([]byte(body), &env)
		if isKnownOp(env.Type) && strings.Contains(body, `"params"`) {
			validate(c.t, c.sc.request, "request "+env.Type, []byte(body))
		}
	}
	resp := c.do(body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" && len(b) > 0 {
		c.t.Fatalf("%s: Content-Type %q, body %s", body, ct, b)
	}
	if resp.StatusCode == 200 && c.sc != nil {
		var env struct{ Type string }
		_ = json.Unmarshal([]byte(body), &env)
		switch env.Type {
		case "threads.get_by_id", "threads.update":
			validate(c.t, c.sc.thread, env.Type+" answer", b)
		case "threads.list":
			validate(c.t, c.sc.threadsPage, env.Type+" answer", b)
		case "items.list":
			validate(c.t, c.sc.itemsPage, env.Type+" answer", b)
		case "attachments.create":
			validate(c.t, c.sc.attachment, env.Type+" answer", b)
		case "threads.delete", "items.feedback", "attachments.delete":
			if string(b) != "{}" {
				c.t.Fatalf("%s answered %s, want {}", env.Type, b)
			}
		}
	}
	return resp.StatusCode, b
}

// mustJSON is jsonOp expecting 200, decoding into out.
func (c *ckClient) mustJSON(body string, out any) {
	c.t.Helper()
	status, b := c.jsonOp(body)
	if status != 200 {
		c.t.Fatalf("%s: status %d: %s", body, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatal(err)
		}
	}
}

// expectError posts and expects a 4xx JSON error with the given status.
func (c *ckClient) expectError(body string, status int) string {
	c.t.Helper()
	resp := c.do(body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%.200s: status %d, want %d: %s", body, resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%.200s: error Content-Type %q", body, ct)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		c.t.Fatalf("%.200s: error body %s is not {\"error\":{code,message}}", body, b)
	}
	return string(b)
}

// event is one decoded SSE frame.
type event struct {
	Type string
	Raw  []byte
	M    map[string]any
}

// stream posts a streaming operation and reads every frame, checking the
// framing: each frame one `data: ` line with one JSON object, nothing else.
func (c *ckClient) stream(body string) []event {
	c.t.Helper()
	if c.sc != nil {
		validate(c.t, c.sc.request, "request", []byte(body))
	}
	resp := c.do(body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s: status %d: %s", body, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		c.t.Fatalf("stream Content-Type %q", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading stream: %v", err)
	}
	return c.parseFrames(raw)
}

func (c *ckClient) parseFrames(raw []byte) []event {
	c.t.Helper()
	if len(raw) == 0 {
		return nil
	}
	if !bytes.HasSuffix(raw, []byte("\n\n")) {
		c.t.Fatalf("stream does not end with a blank line: %q", tailBytes(raw))
	}
	var out []event
	for _, frame := range strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n") {
		if strings.Contains(frame, "\n") || !strings.HasPrefix(frame, "data: ") {
			c.t.Fatalf("bad frame %q", frame)
		}
		out = append(out, c.decodeFrame([]byte(strings.TrimPrefix(frame, "data: "))))
	}
	return out
}

func (c *ckClient) decodeFrame(payload []byte) event {
	c.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		c.t.Fatalf("frame is not one JSON object: %s", payload)
	}
	if c.sc != nil {
		validate(c.t, c.sc.event, "event", payload)
	}
	typ, _ := m["type"].(string)
	return event{Type: typ, Raw: payload, M: m}
}

// readEvents reads frames from an open stream one at a time.
func readEvents(r io.Reader) func() ([]byte, error) {
	br := bufio.NewReader(r)
	return func() ([]byte, error) {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		blank, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if string(blank) != "\n" || !bytes.HasPrefix(line, []byte("data: ")) {
			return nil, fmt.Errorf("bad framing: %q %q", line, blank)
		}
		return bytes.TrimSuffix(bytes.TrimPrefix(line, []byte("data: ")), []byte("\n")), nil
	}
}

func tailBytes(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}

func isKnownOp(op string) bool {
	switch op {
	case "threads.create", "threads.add_user_message", "threads.add_client_tool_output",
		"threads.add_structured_input", "threads.retry_after_item", "threads.custom_action",
		"threads.sync_custom_action", "threads.get_by_id", "threads.list", "items.list",
		"threads.update", "threads.delete", "items.feedback", "attachments.create",
		"attachments.delete", "input.transcribe":
		return true
	}
	return false
}

func types(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
		if e.Type == "thread.item.done" || e.Type == "thread.item.added" {
			it, _ := e.M["item"].(map[string]any)
			out[i] += "(" + fmt.Sprint(it["type"]) + ")"
		}
	}
	return out
}

// replayer applies stream events the way the ChatKit client does and keeps
// the thread's item list.
type replayer struct {
	t       *testing.T
	items   []map[string]any // done items, in order
	pending map[string]map[string]any
	deltas  map[string]string
}

func newReplayer(t *testing.T) *replayer {
	return &replayer{t: t, pending: map[string]map[string]any{}, deltas: map[string]string{}}
}

func (r *replayer) index(id string) int {
	for i, it := range r.items {
		if it["id"] == id {
			return i
		}
	}
	return -1
}

// dropAfter forgets every item after id (what the client does on retry).
func (r *replayer) dropAfter(id string) {
	if i := r.index(id); i >= 0 {
		r.items = r.items[:i+1]
	}
}

func (r *replayer) apply(evs []event) {
	r.t.Helper()
	for _, e := range evs {
		switch e.Type {
		case "thread.item.added":
			it := e.M["item"].(map[string]any)
			id := it["id"].(string)
			if r.index(id) >= 0 || r.pending[id] != nil {
				r.t.Fatalf("item id %s added twice", id)
			}
			r.pending[id] = it
		case "thread.item.updated":
			id := e.M["item_id"].(string)
			p := r.pending[id]
			if p == nil {
				r.t.Fatalf("update for %s, which was never added", id)
			}
			u := e.M["update"].(map[string]any)
			idx := int(u["content_index"].(float64))
			content, _ := p["content"].([]any)
			for len(content) <= idx {
				content = append(content, map[string]any{"type": "output_text", "text": "", "annotations": []any{}})
			}
			part := content[idx].(map[string]any)
			switch u["type"] {
			case "assistant_message.content_part.added", "assistant_message.content_part.done":
				if u["type"] == "assistant_message.content_part.done" {
					if got := u["content"].(map[string]any)["text"]; got != r.deltas[id] {
						r.t.Fatalf("content_part.done text %q != concatenated deltas %q", got, r.deltas[id])
					}
				}
				content[idx] = u["content"]
			case "assistant_message.content_part.text_delta":
				part["text"] = part["text"].(string) + u["delta"].(string)
				r.deltas[id] += u["delta"].(string)
			}
			p["content"] = content
		case "thread.item.done", "thread.item.replaced":
			it := e.M["item"].(map[string]any)
			id := it["id"].(string)
			if p := r.pending[id]; p != nil && it["type"] == "assistant_message" {
				if !reflect.DeepEqual(p["content"], it["content"]) {
					r.t.Fatalf("done item %v differs from the replayed one %v", it["content"], p["content"])
				}
			}
			delete(r.pending, id)
			if i := r.index(id); i >= 0 {
				if e.Type == "thread.item.done" {
					r.t.Fatalf("item id %s done twice", id)
				}
				r.items[i] = it
			} else {
				r.items = append(r.items, it)
			}
		case "thread.item.removed":
			id := e.M["item_id"].(string)
			delete(r.pending, id)
			if i := r.index(id); i >= 0 {
				r.items = append(r.items[:i], r.items[i+1:]...)
			}
		}
	}
}
