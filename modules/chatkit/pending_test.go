package chatkit

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// pendingMessage buffers deltas, yet reads as if every update had gone
// through protocol.ApplyUpdate in order, whatever the mix of updates.
func TestPendingMessageMatchesApplyUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		want := (&protocol.AssistantMessageItem{ID: "msg_1"}).Clone()
		p := &pendingMessage{item: want.Clone()}
		var log []string
		for n := r.IntN(40); n > 0; n-- {
			idx := r.IntN(4) - 1 // -1 (ignored) to 2
			var u protocol.Update
			switch r.IntN(6) {
			case 0:
				u = protocol.ContentPartAdded{ContentIndex: idx, Content: protocol.OutputText{Text: "added"}}
			case 1:
				u = protocol.ContentPartDone{ContentIndex: idx, Content: protocol.OutputText{Text: "done"}}
			case 2:
				u = protocol.AnnotationAdded{ContentIndex: idx, AnnotationIndex: r.IntN(3),
					Annotation: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
			default:
				u = protocol.TextDelta{ContentIndex: idx, Delta: fmt.Sprintf("w%d ", n)}
			}
			log = append(log, fmt.Sprintf("%#v", u))
			protocol.ApplyUpdate(want, u)
			p.apply(u)
			if r.IntN(10) == 0 { // a read in the middle folds the text in early
				p.message()
			}
		}
		if got := p.message(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s:\n got %#v\nwant %#v", strings.Join(log, "; "), got, want)
		}
	}
}

// BenchmarkPendingDeltas streams a 2,000-delta reply into a pending
// message, as a long model answer does.
func BenchmarkPendingDeltas(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := &pendingMessage{item: &protocol.AssistantMessageItem{ID: "msg_1"}}
		for i := 0; i < 2000; i++ {
			p.apply(protocol.TextDelta{Delta: "token "})
		}
		if len(p.message().Text()) != 12000 {
			b.Fatal("wrong text")
		}
	}
}
