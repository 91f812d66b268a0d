package responder

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

type recStream struct{ frames []string }

func (r *recStream) Emit(ev protocol.Event) error {
	b, err := json.Marshal(ev)
	r.frames = append(r.frames, string(b))
	return err
}
func (r *recStream) NewItemID(p string) string { return p + "_1" }
func (r *recStream) Now() time.Time            { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
func (r *recStream) ThreadID() string          { return "thr_1" }
func (r *recStream) SetTitle(string)           {}

// TestMessageWriterSequence pins the reference event sequence of a
// streamed assistant message, as the ChatKit reference server emits it.
func TestMessageWriterSequence(t *testing.T) {
	t.Parallel()
	s := &recStream{}
	m, err := StartMessage(s)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Delta("Hel")
	_ = m.Delta("")
	_ = m.Delta("lo")
	_ = m.Annotate(json.RawMessage(`{"type":"annotation","source":{"type":"url","title":"T","url":"https://x"}}`))
	if err := m.Done(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"type":"thread.item.added","item":{"type":"assistant_message","id":"msg_1","thread_id":"thr_1","created_at":"2026-01-01T00:00:00.000Z","content":[]}}`,
		`{"type":"thread.item.updated","item_id":"msg_1","update":{"type":"assistant_message.content_part.added","content_index":0,"content":{"type":"output_text","text":"","annotations":[]}}}`,
		`{"type":"thread.item.updated","item_id":"msg_1","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"Hel"}}`,
		`{"type":"thread.item.updated","item_id":"msg_1","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"lo"}}`,
		`{"type":"thread.item.updated","item_id":"msg_1","update":{"type":"assistant_message.content_part.annotation_added","content_index":0,"annotation_index":0,"annotation":{"type":"annotation","source":{"type":"url","title":"T","url":"https://x"}}}}`,
		`{"type":"thread.item.updated","item_id":"msg_1","update":{"type":"assistant_message.content_part.done","content_index":0,"content":{"type":"output_text","text":"Hello","annotations":[{"type":"annotation","source":{"type":"url","title":"T","url":"https://x"}}]}}}`,
		`{"type":"thread.item.done","item":{"type":"assistant_message","id":"msg_1","thread_id":"thr_1","created_at":"2026-01-01T00:00:00.000Z","content":[{"type":"output_text","text":"Hello","annotations":[{"type":"annotation","source":{"type":"url","title":"T","url":"https://x"}}]}]}}`,
	}
	if got := strings.Join(s.frames, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
