package protocol

import (
	"encoding/json"
	"testing"
	"time"
)

// The events encoded without reflection are byte for byte what
// json.Marshal writes.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	at := NewTime(time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC))
	texts := []string{"", "Echo: ", "plain words ", `quote " and \ slash`, "<b>&amp;</b>", "tab\tnew\nline\x01", "héllo ✓", "\u2028", "bad \xff utf8"}
	var evs []Event
	evs = append(evs, StreamOptions{AllowCancel: true}, StreamOptions{})
	for _, s := range texts {
		evs = append(evs,
			ItemUpdated{ItemID: "msg_" + s, Update: TextDelta{Delta: s}},
			ItemUpdated{ItemID: "msg_1", Update: TextDelta{ContentIndex: 12, Delta: s}},
			ItemUpdated{ItemID: "msg_1", Update: ContentPartAdded{Content: OutputText{Text: s}}},
			ItemUpdated{ItemID: "msg_1", Update: ContentPartDone{ContentIndex: 1, Content: OutputText{Text: s, Annotations: []json.RawMessage{}}}},
			ItemUpdated{ItemID: "msg_1", Update: ContentPartDone{Content: OutputText{Text: s, Annotations: []json.RawMessage{json.RawMessage(`{"a": 1}`)}}}},
			ItemAdded{Item: &AssistantMessageItem{ID: "msg_" + s, ThreadID: "thr_1", CreatedAt: at}},
			ItemAdded{Item: &AssistantMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, Content: []OutputText{{Text: s}, {Text: "x"}}}},
		)
	}
	fast := 0
	for _, ev := range evs {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ev.(jsonAppender).appendJSON(nil)
		if ok {
			fast++
			if string(got) != string(want) {
				t.Errorf("%#v:\n got %s\nwant %s", ev, got, want)
			}
		}
	}
	if fast < len(evs)-len(texts) {
		t.Errorf("only %d of %d events took the fast path", fast, len(evs))
	}
	// Items: MarshalItem is json.Marshal, on the fast path or not.
	var items []Item
	for _, s := range texts {
		items = append(items,
			&AssistantMessageItem{ID: "msg_" + s, ThreadID: "thr_1", CreatedAt: at, Content: []OutputText{{Text: s}, {Text: "x"}}},
			&AssistantMessageItem{ID: "msg_1", ThreadID: s, CreatedAt: at},
			&UserMessageItem{ID: "msg_" + s, ThreadID: "thr_1", CreatedAt: at},
			&UserMessageItem{ID: "msg_1", ThreadID: "thr_" + s, CreatedAt: at, QuotedText: s,
				Content: []UserContent{{Type: "input_text", Text: s}, {Type: "", Text: "x", ID: "ignored"}}},
			&UserMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, Attachments: []json.RawMessage{json.RawMessage(`{"id": "a"}`)}},
			&UserMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, InferenceOptions: InferenceOptions{Model: s}},
			&UserMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, InferenceOptions: InferenceOptions{ToolChoice: &ToolChoice{ID: s}}},
			&UserMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at,
				Content: []UserContent{{Type: "input_text", Text: s}, {Type: "input_tag", ID: "t1", Text: s, Group: "g"}}},
			&ClientToolCallItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, Name: s},
		)
	}
	for _, it := range items {
		want, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalItem(it)
		if err != nil || string(got) != string(want) {
			t.Errorf("MarshalItem(%#v) = %s, %v\nwant %s", it, got, err, want)
		}
	}
	if b, ok := (&UserMessageItem{ID: "m", Content: []UserContent{{Type: "input_text", Text: "hi"}}}).appendJSON(nil); !ok {
		t.Errorf("a plain user message took the slow path: %s", b)
	}
	item := &AssistantMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at, Content: []OutputText{{Text: "hi"}}}
	b, _ := json.Marshal(item)
	want, _ := json.Marshal(ItemDone{Item: item})
	if got := AppendItemDone(nil, b); string(got) != string(want) {
		t.Errorf("item done:\n got %s\nwant %s", got, want)
	}
}

// Thread events: the fast path for a thread without items or image
// domains, json.Marshal's bytes either way.
func TestThreadEventsMatchMarshal(t *testing.T) {
	at := NewTime(time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC))
	var threads []*Thread
	for _, s := range []string{"", "A title", `quote " <b> & ✓`, "tab\t\xff"} {
		threads = append(threads,
			&Thread{ID: "thr_1", Title: s, CreatedAt: at},
			&Thread{ID: "thr_" + s, CreatedAt: at, Status: Status{Type: StatusLocked, Reason: s}},
			&Thread{ID: "thr_1", Title: s, CreatedAt: at, Status: Status{Type: StatusClosed}},
		)
	}
	slow := []*Thread{
		{ID: "thr_1", CreatedAt: at, AllowedImageDomains: []string{"example.com"}},
		{ID: "thr_1", CreatedAt: at, AllowedImageDomains: []string{}},
		{ID: "thr_1", CreatedAt: at, Items: Page[Item]{Data: []Item{&AssistantMessageItem{ID: "msg_1", ThreadID: "thr_1", CreatedAt: at}}}},
		{ID: "thr_1", CreatedAt: at, Items: Page[Item]{HasMore: true, After: "msg_1"}},
	}
	for i, th := range append(threads, slow...) {
		for _, ev := range []Event{ThreadCreated{Thread: th}, ThreadUpdated{Thread: th}} {
			want, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ev.(jsonAppender).appendJSON(nil)
			if fast := i < len(threads); ok != fast {
				t.Errorf("%#v: fast path %v, want %v", th, ok, fast)
			}
			if ok && string(got) != string(want) {
				t.Errorf("%#v:\n got %s\nwant %s", th, got, want)
			}
		}
	}
}
