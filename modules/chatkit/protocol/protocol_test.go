package protocol

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSerializationOmitsNullsAndKeepsLists(t *testing.T) {
	t.Parallel()
	ts := NewTime(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)))
	cases := []struct {
		v    any
		want string
	}{
		{&UserMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: ts, Content: []UserContent{{Type: "input_text", Text: "hi"}}},
			`{"type":"user_message","id":"msg_1","thread_id":"thr_1","created_at":"2026-01-02T02:04:05.123Z","content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}`},
		{&UserMessageItem{ID: "m", ThreadID: "t", CreatedAt: ts, Content: []UserContent{{Type: "input_tag", ID: "e1", Text: "@Loops"}}, QuotedText: "q",
			InferenceOptions: InferenceOptions{ToolChoice: &ToolChoice{ID: "search"}, Model: "fast"}},
			`{"type":"user_message","id":"m","thread_id":"t","created_at":"2026-01-02T02:04:05.123Z","content":[{"type":"input_tag","id":"e1","text":"@Loops","data":{},"interactive":false}],"attachments":[],"quoted_text":"q","inference_options":{"tool_choice":{"id":"search"},"model":"fast"}}`},
		{&AssistantMessageItem{ID: "m", ThreadID: "t", CreatedAt: ts},
			`{"type":"assistant_message","id":"m","thread_id":"t","created_at":"2026-01-02T02:04:05.123Z","content":[]}`},
		{&Thread{ID: "thr_1", CreatedAt: ts},
			`{"id":"thr_1","created_at":"2026-01-02T02:04:05.123Z","status":{"type":"active"},"metadata":{},"items":{"data":[],"has_more":false}}`},
		{Page[Item]{HasMore: false, After: "x"}, `{"data":[],"has_more":false}`},
		{ItemUpdated{ItemID: "m", Update: TextDelta{Delta: "Hel"}},
			`{"type":"thread.item.updated","item_id":"m","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"Hel"}}`},
		{ItemUpdated{ItemID: "m", Update: ContentPartAdded{}},
			`{"type":"thread.item.updated","item_id":"m","update":{"type":"assistant_message.content_part.added","content_index":0,"content":{"type":"output_text","text":"","annotations":[]}}}`},
		{StreamOptions{AllowCancel: true}, `{"type":"stream_options","stream_options":{"allow_cancel":true}}`},
		{ErrorEvent{Code: ErrorCodeStream, AllowRetry: true}, `{"type":"error","code":"stream.error","allow_retry":true}`},
		{ClientEffect{Name: "x"}, `{"type":"client_effect","name":"x","data":{}}`},
		{Notice{Message: "m"}, `{"type":"notice","level":"info","message":"m"}`},
		{&ClientToolCallItem{ID: "tc", ThreadID: "t", CreatedAt: ts, CallID: "c", Name: "n"},
			`{"type":"client_tool_call","id":"tc","thread_id":"t","created_at":"2026-01-02T02:04:05.123Z","status":"pending","call_id":"c","name":"n","arguments":{}}`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("got  %s\nwant %s", b, tc.want)
		}
	}
}

func TestDecodeItemRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"type":"user_message","id":"msg_1","thread_id":"thr_1","created_at":"2026-01-02T02:04:05.123Z","content":[{"type":"input_text","text":"hi"}],"attachments":[],"inference_options":{}}`,
		`{"type":"assistant_message","id":"m","thread_id":"t","created_at":"2026-01-02T02:04:05.123Z","content":[{"type":"output_text","text":"x","annotations":[{"type":"annotation","source":{"type":"url","title":"T","url":"https://x"}}]}]}`,
		`{"type":"widget","id":"w","thread_id":"t","created_at":"2026-01-02T02:04:05.123Z","widget":{"type":"Card","children":[]}}`,
	} {
		it, err := DecodeItem([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(it)
		if string(out) != in {
			t.Errorf("round trip\n got %s\nwant %s", out, in)
		}
	}
	if _, err := DecodeItem([]byte(`{"type":"x"}`)); err == nil {
		t.Error("item without id accepted")
	}
}

func TestApplyUpdate(t *testing.T) {
	t.Parallel()
	m := &AssistantMessageItem{}
	ApplyUpdate(m, TextDelta{ContentIndex: 1, Delta: "b"}) // pads index 0
	ApplyUpdate(m, TextDelta{ContentIndex: 1, Delta: "c"})
	ApplyUpdate(m, AnnotationAdded{ContentIndex: 1, AnnotationIndex: 5, Annotation: json.RawMessage(`1`)})
	ApplyUpdate(m, AnnotationAdded{ContentIndex: 1, AnnotationIndex: 0, Annotation: json.RawMessage(`0`)})
	if len(m.Content) != 2 || m.Content[1].Text != "bc" || string(m.Content[1].Annotations[0]) != "0" || len(m.Content[1].Annotations) != 2 {
		t.Fatalf("%+v", m.Content)
	}
	ApplyUpdate(m, ContentPartDone{ContentIndex: 0, Content: OutputText{Text: "a"}})
	if m.Text() != "abc" {
		t.Fatalf("text %q", m.Text())
	}
}

// testOps parses every operation the tests use.
func testOps(op string) (ParamsParser, bool) {
	parsers := map[string]ParamsParser{
		OpThreadsList:   func(p *Params) (any, error) { return p.ListThreads() },
		OpThreadsCreate: func(p *Params) (any, error) { return p.ThreadCreate() },
	}
	parse, ok := parsers[op]
	return parse, ok
}

func TestParseRequestDefaults(t *testing.T) {
	t.Parallel()
	req, err := ParseRequest([]byte(`{"type":"threads.list","params":{"limit":null}}`), testOps)
	if err != nil {
		t.Fatal(err)
	}
	if p := req.Params.(*ListParams); p.Order != "desc" || p.Limit != 0 {
		t.Fatalf("%+v", p)
	}
	req, err = ParseRequest([]byte(`{"type":"threads.create","params":{"input":{"content":[{"type":"input_tag","id":"e","text":"@x","interactive":true}],"quoted_text":null}}}`), testOps)
	if err != nil {
		t.Fatal(err)
	}
	in := req.Params.(*ThreadCreateParams).Input
	if in.Attachments == nil || !in.Content[0].Interactive || in.Content[0].ID != "e" || in.Size() != len("e")+len("@x") {
		t.Fatalf("%+v", in)
	}
}

// TestParseRequestIsStrict: what encoding/json would resolve silently (a
// repeated key, a key in another case) is refused, at every depth; unknown
// keys only at the top level.
func TestParseRequestIsStrict(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"TYPE":"threads.list","params":{}}`,
		`{"type":"threads.list","Type":"threads.create","params":{}}`,
		`{"type":"threads.list","type":"threads.create","params":{}}`,
		`{"type":"threads.list","\u0074ype":"threads.list","params":{}}`,
		`{"type":"threads.list","params":{},"extra":1}`,
		`{"type":"threads.list","params":{"Limit":1}}`,
		`{"type":"threads.list","params":{"limit":1,"limit":2}}`,
		`{"type":"threads.list","params":{},"metadata":{"a":{"b":1,"b":2}}}`,
		`{"type":"threads.list","params":{},"metadata":{"Page":{}}}`,
		`{"type":"threads.list","params":{},"metadata":{"page":{"Title":"x"}}}`,
		`{"type":"threads.create","params":{"input":{"Content":[],"content":[]}}}`,
		`{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","TEXT":"x","text":"y"}]}}}`,
		`{"type":"threads.list","params":{}}{}`,
		`{"type":"threads.list","params":{}`,
		`{"type":"threads.list","params":{},"metadata":{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`,
	} {
		if _, err := ParseRequest([]byte(body), testOps); err == nil {
			t.Errorf("accepted %s", body)
		} else if !strings.HasPrefix(err.Error(), "invalid_request: ") {
			t.Errorf("%s: %v", body, err)
		}
	}
	for _, body := range []string{
		`{"type":"threads.list","params":{"extra":1,"EXTRA":2}}`,
		`{"type":"threads.list","params":{},"metadata":{"anything":{"Nested":1,"nested":2}}}`,
		`{"type":"threads.list","params":{"extra":1e400},"metadata":{"n":1e400}}`,
	} {
		if _, err := ParseRequest([]byte(body), testOps); err != nil {
			t.Errorf("refused %s: %v", body, err)
		}
	}
}

func TestSSEFraming(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	s, err := StartSSE(w)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Write(ProgressUpdate{Text: "line1\nline2 <b>"})
	_ = s.Write(StreamOptions{AllowCancel: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := "data: {\"type\":\"progress_update\",\"text\":\"line1\\nline2 \\u003cb\\u003e\"}\n\ndata: {\"type\":\"stream_options\",\"stream_options\":{\"allow_cancel\":true}}\n\n"
	if w.Body.String() != want || w.Header().Get("Content-Type") != "text/event-stream" || !w.Flushed {
		t.Fatalf("%q %v", w.Body.String(), w.Header())
	}
}
