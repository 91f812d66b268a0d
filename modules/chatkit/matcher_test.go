package chatkit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// caddyRequest is a POST with what Caddy puts on every request's context
// (request variables, a replacer), as a matcher sees it.
func caddyRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/chatkit", strings.NewReader(body))
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	return r.WithContext(ctx)
}

var allOps = func() *MatchOp {
	m := &MatchOp{}
	for op := range operations {
		m.Operations = append(m.Operations, op)
	}
	return m
}()

func TestMatcherClassifies(t *testing.T) {
	t.Parallel()
	create := `{"input":{"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}}`
	for body, want := range map[string]string{
		`{"type":"threads.create","params":` + create + `}`:                                            "threads.create",
		`{"params":{"type":"nested"},"type":"items.list"}`:                                             "", // items.list needs a thread_id
		`{"params":{"thread_id":"t","type":"nested"},"type":"items.list"}`:                             "items.list",
		` {"metadata":null, "type" : "threads.list", "params":{}} `:                                    "threads.list",
		`{"metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"},"type":"threads.list","params":{}}`: "threads.list",
		`{"type":"threads.create","params":{}}`:                                                        "",
		`{"params":{"input":{"content":[{"type":"input_text"}]}}}`:                                     "",
		`{"type":5,"params":{}}`:                                                                       "",
		`[{"type":"threads.create"}]`:                                                                  "",
		`{"params":{"a":"unterminated`:                                                                 "",
		`{"TYPE":"threads.create","params":` + create + `}`:                                            "",
		`{"type":"threads.list","type":"threads.create","params":` + create + `}`:                      "",
		`{"type":"threads.list","params":{},"extra":1}`:                                                "",
		`{"type":"threads.list","params":{}}` + strings.Repeat(" ", defaultMaxBody):                    "",
	} {
		r := caddyRequest(body)
		op, ok := allOps.classify(r)
		if want == "" {
			if ok {
				t.Errorf("%.80s: classified as %q, want unclassifiable", body, op)
			}
			if !allOps.Match(r) || !(&MatchOp{Operations: []string{"threads.list"}}).Match(r) {
				t.Errorf("%.80s: an unclassifiable body must match (fail closed)", body)
			}
		} else if !ok || op != want {
			t.Errorf("%.80s: classified as %q (%v), want %q", body, op, ok, want)
		}
		// Whatever happened, the body reads as it was sent.
		if got, _ := io.ReadAll(r.Body); string(got) != body {
			t.Errorf("%.80s: body not restored (%d bytes)", body, len(got))
		}
	}
	if (&MatchOp{Operations: []string{"threads.create"}}).Match(caddyRequest(`{"type":"threads.list","params":{}}`)) {
		t.Error("threads.list matched threads.create")
	}
	get := httptest.NewRequest(http.MethodGet, "/chatkit", nil)
	if allOps.Match(get) {
		t.Error("a GET matched")
	}
}

// TestHandlerUsesTheMatchersParse: after chatkit_op the handler reads
// nothing and parses nothing; when the body was replaced since, or was too
// large for the matcher, it reads on its own.
func TestHandlerUsesTheMatchersParse(t *testing.T) {
	t.Parallel()
	body := `{"type":"threads.list","params":{}}`
	h := &Handler{}
	r := caddyRequest(body)
	allOps.Match(r)
	rec := sharedBody(r)
	req, err := h.readRequest(httptest.NewRecorder(), r)
	if err != nil || rec == nil || req != rec.req {
		t.Fatalf("the handler parsed again: %v", err)
	}
	r.Body = io.NopCloser(strings.NewReader(`{"type":"items.list","params":{"thread_id":"t"}}`))
	if req, err := h.readRequest(httptest.NewRecorder(), r); err != nil || req.Type != "items.list" {
		t.Fatalf("a replaced body was not read: %v %v", req, err)
	}
	// The matcher reads 10 bytes; the handler takes the rest.
	r = caddyRequest(body)
	(&MatchOp{Operations: []string{"threads.create"}, MaxRequestBody: 10}).Match(r)
	if req, err := h.readRequest(httptest.NewRecorder(), r); err != nil || req.Type != "threads.list" {
		t.Fatalf("after a partial read: %v %v", req, err)
	}
	// And the handler's own, lower limit still holds.
	r = caddyRequest(body)
	allOps.Match(r)
	if _, err := (&Handler{MaxRequestBody: 10}).readRequest(httptest.NewRecorder(), r); err == nil || !strings.Contains(err.Error(), "body_too_large") {
		t.Fatalf("a body over the handler's limit passed: %v", err)
	}
}

func TestMatcherJSONForms(t *testing.T) {
	t.Parallel()
	var m MatchOp
	if err := json.Unmarshal([]byte(`["threads.create"]`), &m); err != nil || len(m.Operations) != 1 {
		t.Fatalf("list form: %+v %v", m, err)
	}
	if b, _ := json.Marshal(m); string(b) != `["threads.create"]` {
		t.Fatalf("marshalled %s", b)
	}
	if err := json.Unmarshal([]byte(`{"operations":["threads.create"],"read_timeout":1000000000}`), &m); err != nil || m.ReadTimeout != caddy.Duration(1e9) {
		t.Fatalf("object form: %+v %v", m, err)
	}
	if b, _ := json.Marshal(m); string(b) != `{"operations":["threads.create"],"read_timeout":1000000000}` {
		t.Fatalf("marshalled %s", b)
	}
	if err := json.Unmarshal([]byte(`{"operations":[],"bogus":1}`), &m); err == nil {
		t.Fatal("unknown field accepted")
	}
}

// FuzzMatcherAgreesWithHandler feeds the same body to chatkit_op's
// classification and to the handler's parser: either both refuse it (the
// matcher then matches, failing closed), or both read the same operation.
func FuzzMatcherAgreesWithHandler(f *testing.F) {
	create := `{"input":{"content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}}`
	for _, seed := range []string{
		`{"type":"threads.create","params":` + create + `}`,
		`{"TYPE":"threads.create","params":` + create + `}`,
		`{"Type":"threads.create","params":` + create + `}`,
		`{"type":"threads.list","type":"threads.create","params":` + create + `}`,
		`{"type":"threads.list","\u0074ype":"threads.create","params":` + create + `}`,
		`{"metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"},"type":"threads.create","params":` + create + `}`,
		`{"type":"threads.create","PARAMS":` + create + `,"params":{}}`,
		`{"type":"threads.list","params":{"limit":5,"extra":1},"metadata":{"a":1}}`,
		`{"type":"items.list","params":{"thread_id":"thr_1","order":"asc","limit":null}}`,
		`{"type":"threads.add_user_message","params":{"thread_id":"t","input":{"content":[{"type":"input_tag","id":"e","text":"@x","data":{"k":[1,{"a":null}]}}],"attachments":[]}}}`,
		`{"type":"threads.retry_after_item","params":{"thread_id":"t","item_id":"m"}}`,
		`{"type":"items.feedback","params":{"thread_id":"t","item_ids":["a"],"kind":"positive"}}`,
		`{"type":"threads.custom_action","params":{"thread_id":"t","item_id":null,"action":{"type":"x","payload":{}}}}`,
		`{"type":"attachments.create","params":{"name":"a","size":1,"mime_type":"image/png"}}`,
		`{"type":"threads.list","params":{},"metadata":{"page":{"url":"u","headings":["a"]}}}`,
		`{"type":"threads.list","params":{"limit":1e400}}`,
		"{\"type\":\"threads.list\",\"params\":{},\"x\":\"\xff\"}",
		`{"type":"threads.list","params":{}} {}`,
		``, `{}`, `null`, `[]`, `{"type":null,"params":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := caddyRequest(string(body))
		op, ok := allOps.classify(r)
		matched := allOps.Match(r)
		req, err := parseRequest(body) // what the handler runs without a matcher
		switch {
		case err != nil && ok:
			t.Fatalf("the matcher classified %q, the handler refuses: %v", op, err)
		case err == nil && !ok:
			t.Fatalf("the handler runs %q, the matcher cannot classify it", req.Type)
		case err == nil && op != req.Type:
			t.Fatalf("the matcher reads %q, the handler %q", op, req.Type)
		case !matched:
			t.Fatalf("a body matched no operation (op %q, ok %v)", op, ok)
		}
		// Through the matcher, the handler answers from the same parse.
		got, herr := (&Handler{}).readRequest(httptest.NewRecorder(), r)
		if (herr == nil) != (err == nil) || (herr == nil && got.Type != req.Type) {
			t.Fatalf("after the matcher the handler got %v %v, alone %v %v", got, herr, req, err)
		}
		if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, body) {
			t.Fatalf("body not restored")
		}
	})
}
