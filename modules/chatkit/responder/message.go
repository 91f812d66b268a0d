package responder

import (
	"encoding/json"
	"strings"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// MessageWriter streams one assistant message with the reference event
// sequence: item added, content part added, text deltas, content part done,
// item done.
type MessageWriter struct {
	s    Stream
	item *protocol.AssistantMessageItem
	text strings.Builder
	anns []json.RawMessage
}

// StartMessage opens an assistant message and its first (only) text part.
func StartMessage(s Stream) (*MessageWriter, error) {
	m := &MessageWriter{s: s, item: &protocol.AssistantMessageItem{
		ID:        s.NewItemID("msg"),
		ThreadID:  s.ThreadID(),
		CreatedAt: protocol.NewTime(s.Now()),
		Content:   []protocol.OutputText{},
	}}
	if err := s.Emit(protocol.ItemAdded{Item: m.item}); err != nil {
		return nil, err
	}
	err := s.Emit(protocol.ItemUpdated{ItemID: m.item.ID, Update: protocol.ContentPartAdded{
		Content: protocol.OutputText{Text: "", Annotations: []json.RawMessage{}},
	}})
	return m, err
}

// ID is the message's item id.
func (m *MessageWriter) ID() string { return m.item.ID }

// Delta appends text.
func (m *MessageWriter) Delta(text string) error {
	if text == "" {
		return nil
	}
	m.text.WriteString(text)
	return m.s.Emit(protocol.ItemUpdated{ItemID: m.item.ID, Update: protocol.TextDelta{Delta: text}})
}

// Annotate appends an annotation (a source citation, JSON as the protocol
// defines it).
func (m *MessageWriter) Annotate(annotation json.RawMessage) error {
	m.anns = append(m.anns, annotation)
	return m.s.Emit(protocol.ItemUpdated{ItemID: m.item.ID, Update: protocol.AnnotationAdded{
		AnnotationIndex: len(m.anns) - 1, Annotation: annotation,
	}})
}

// Text is what has been streamed so far.
func (m *MessageWriter) Text() string { return m.text.String() }

// Done closes the part and the item; the handler stores it.
func (m *MessageWriter) Done() error {
	anns := m.anns
	if anns == nil {
		anns = []json.RawMessage{}
	}
	part := protocol.OutputText{Text: m.text.String(), Annotations: anns}
	if err := m.s.Emit(protocol.ItemUpdated{ItemID: m.item.ID, Update: protocol.ContentPartDone{Content: part}}); err != nil {
		return err
	}
	final := *m.item
	final.Content = []protocol.OutputText{part}
	return m.s.Emit(protocol.ItemDone{Item: &final})
}
