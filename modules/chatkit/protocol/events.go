package protocol

import "encoding/json"

// Event is one stream event (one SSE data frame).
type Event interface {
	EventType() string
}

// ThreadCreated announces a new thread (threads.create only, first event).
type ThreadCreated struct{ Thread *Thread }

// EventType returns "thread.created".
func (ThreadCreated) EventType() string { return "thread.created" }

// MarshalJSON writes the wire form.
func (e ThreadCreated) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type   string  `json:"type"`
		Thread *Thread `json:"thread"`
	}{e.EventType(), e.Thread})
}

// ThreadUpdated announces a changed title or status.
type ThreadUpdated struct{ Thread *Thread }

// EventType returns "thread.updated".
func (ThreadUpdated) EventType() string { return "thread.updated" }

// MarshalJSON writes the wire form.
func (e ThreadUpdated) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type   string  `json:"type"`
		Thread *Thread `json:"thread"`
	}{e.EventType(), e.Thread})
}

// ItemAdded starts a streamed item; it is not stored until ItemDone.
type ItemAdded struct{ Item Item }

// EventType returns "thread.item.added".
func (ItemAdded) EventType() string { return "thread.item.added" }

// MarshalJSON writes the wire form.
func (e ItemAdded) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Item Item   `json:"item"`
	}{e.EventType(), e.Item})
}

// ItemDone completes an item; the server stores it as the event passes.
type ItemDone struct{ Item Item }

// EventType returns "thread.item.done".
func (ItemDone) EventType() string { return "thread.item.done" }

// MarshalJSON writes the wire form.
func (e ItemDone) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Item Item   `json:"item"`
	}{e.EventType(), e.Item})
}

// ItemReplaced swaps a stored item in place.
type ItemReplaced struct{ Item Item }

// EventType returns "thread.item.replaced".
func (ItemReplaced) EventType() string { return "thread.item.replaced" }

// MarshalJSON writes the wire form.
func (e ItemReplaced) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Item Item   `json:"item"`
	}{e.EventType(), e.Item})
}

// ItemRemoved deletes an item.
type ItemRemoved struct{ ItemID string }

// EventType returns "thread.item.removed".
func (ItemRemoved) EventType() string { return "thread.item.removed" }

// MarshalJSON writes the wire form.
func (e ItemRemoved) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type   string `json:"type"`
		ItemID string `json:"item_id"`
	}{e.EventType(), e.ItemID})
}

// ItemUpdated changes a pending item.
type ItemUpdated struct {
	ItemID string
	Update Update
}

// EventType returns "thread.item.updated".
func (ItemUpdated) EventType() string { return "thread.item.updated" }

// MarshalJSON writes the wire form.
func (e ItemUpdated) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type   string `json:"type"`
		ItemID string `json:"item_id"`
		Update Update `json:"update"`
	}{e.EventType(), e.ItemID, e.Update})
}

// StreamOptions is sent once per stream, before the responder runs.
type StreamOptions struct{ AllowCancel bool }

// EventType returns "stream_options".
func (StreamOptions) EventType() string { return "stream_options" }

// MarshalJSON writes the wire form.
func (e StreamOptions) MarshalJSON() ([]byte, error) {
	type opts struct {
		AllowCancel bool `json:"allow_cancel"`
	}
	return json.Marshal(struct {
		Type          string `json:"type"`
		StreamOptions opts   `json:"stream_options"`
	}{e.EventType(), opts{e.AllowCancel}})
}

// ProgressUpdate is a transient status line.
type ProgressUpdate struct {
	Text string
	Icon string
}

// EventType returns "progress_update".
func (ProgressUpdate) EventType() string { return "progress_update" }

// MarshalJSON writes the wire form.
func (e ProgressUpdate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
		Icon string `json:"icon,omitempty"`
	}{e.EventType(), e.Text, e.Icon})
}

// ClientEffect is a fire-and-forget effect for the client's onEffect.
type ClientEffect struct {
	Name string
	Data map[string]any
}

// EventType returns "client_effect".
func (ClientEffect) EventType() string { return "client_effect" }

// MarshalJSON writes the wire form.
func (e ClientEffect) MarshalJSON() ([]byte, error) {
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	return json.Marshal(struct {
		Type string         `json:"type"`
		Name string         `json:"name"`
		Data map[string]any `json:"data"`
	}{e.EventType(), e.Name, data})
}

// Error codes.
const (
	ErrorCodeStream = "stream.error" // generic; the client shows its own text
	ErrorCodeCustom = "custom"       // Message is shown to the user
)

// ErrorEvent reports a failed turn; the stream ends after it.
type ErrorEvent struct {
	Code       string
	Message    string
	AllowRetry bool
}

// EventType returns "error".
func (ErrorEvent) EventType() string { return "error" }

// MarshalJSON writes the wire form.
func (e ErrorEvent) MarshalJSON() ([]byte, error) {
	code := e.Code
	if code == "" {
		code = ErrorCodeCustom
	}
	return json.Marshal(struct {
		Type       string `json:"type"`
		Code       string `json:"code"`
		Message    string `json:"message,omitempty"`
		AllowRetry bool   `json:"allow_retry"`
	}{e.EventType(), code, e.Message, e.AllowRetry})
}

// Notice is a user-facing banner (Markdown).
type Notice struct {
	Level   string // info, warning, danger
	Message string
	Title   string
}

// EventType returns "notice".
func (Notice) EventType() string { return "notice" }

// MarshalJSON writes the wire form.
func (e Notice) MarshalJSON() ([]byte, error) {
	level := e.Level
	if level == "" {
		level = "info"
	}
	return json.Marshal(struct {
		Type    string `json:"type"`
		Level   string `json:"level"`
		Message string `json:"message"`
		Title   string `json:"title,omitempty"`
	}{e.EventType(), level, e.Message, e.Title})
}

// Update is the change carried by ItemUpdated.
type Update interface {
	UpdateType() string
}

// Assistant message update types.
const (
	UpdateContentPartAdded = "assistant_message.content_part.added"
	UpdateTextDelta        = "assistant_message.content_part.text_delta"
	UpdateAnnotationAdded  = "assistant_message.content_part.annotation_added"
	UpdateContentPartDone  = "assistant_message.content_part.done"
)

// ContentPartAdded opens (or overwrites) a part of an assistant message.
type ContentPartAdded struct {
	ContentIndex int
	Content      OutputText
}

// UpdateType returns its type.
func (ContentPartAdded) UpdateType() string { return UpdateContentPartAdded }

// MarshalJSON writes the wire form.
func (u ContentPartAdded) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type         string     `json:"type"`
		ContentIndex int        `json:"content_index"`
		Content      OutputText `json:"content"`
	}{u.UpdateType(), u.ContentIndex, u.Content})
}

// TextDelta appends text to a part.
type TextDelta struct {
	ContentIndex int
	Delta        string
}

// UpdateType returns its type.
func (TextDelta) UpdateType() string { return UpdateTextDelta }

// MarshalJSON writes the wire form.
func (u TextDelta) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type         string `json:"type"`
		ContentIndex int    `json:"content_index"`
		Delta        string `json:"delta"`
	}{u.UpdateType(), u.ContentIndex, u.Delta})
}

// AnnotationAdded inserts an annotation into a part.
type AnnotationAdded struct {
	ContentIndex    int
	AnnotationIndex int
	Annotation      json.RawMessage
}

// UpdateType returns its type.
func (AnnotationAdded) UpdateType() string { return UpdateAnnotationAdded }

// MarshalJSON writes the wire form.
func (u AnnotationAdded) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type            string          `json:"type"`
		ContentIndex    int             `json:"content_index"`
		AnnotationIndex int             `json:"annotation_index"`
		Annotation      json.RawMessage `json:"annotation"`
	}{u.UpdateType(), u.ContentIndex, u.AnnotationIndex, u.Annotation})
}

// ContentPartDone closes a part with its final content.
type ContentPartDone struct {
	ContentIndex int
	Content      OutputText
}

// UpdateType returns its type.
func (ContentPartDone) UpdateType() string { return UpdateContentPartDone }

// MarshalJSON writes the wire form.
func (u ContentPartDone) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type         string     `json:"type"`
		ContentIndex int        `json:"content_index"`
		Content      OutputText `json:"content"`
	}{u.UpdateType(), u.ContentIndex, u.Content})
}

// RawUpdate is any other update (widgets, workflows, images), as JSON with
// its "type".
type RawUpdate struct {
	Type string
	JSON json.RawMessage
}

// UpdateType returns its type.
func (u RawUpdate) UpdateType() string { return u.Type }

// MarshalJSON writes the object unchanged.
func (u RawUpdate) MarshalJSON() ([]byte, error) { return u.JSON, nil }

// ApplyUpdate applies an assistant-message update the way the reference
// client and server do: pad content up to the index, added/done overwrite
// the part, deltas append, annotations insert (or append past the end).
// Other updates leave the item unchanged.
func ApplyUpdate(m *AssistantMessageItem, u Update) {
	pad := func(i int) {
		for len(m.Content) <= i {
			m.Content = append(m.Content, OutputText{Annotations: []json.RawMessage{}})
		}
	}
	switch u := u.(type) {
	case ContentPartAdded:
		if u.ContentIndex < 0 {
			return
		}
		pad(u.ContentIndex)
		m.Content[u.ContentIndex] = u.Content
	case ContentPartDone:
		if u.ContentIndex < 0 {
			return
		}
		pad(u.ContentIndex)
		m.Content[u.ContentIndex] = u.Content
	case TextDelta:
		if u.ContentIndex < 0 {
			return
		}
		pad(u.ContentIndex)
		m.Content[u.ContentIndex].Text += u.Delta
	case AnnotationAdded:
		if u.ContentIndex < 0 {
			return
		}
		pad(u.ContentIndex)
		p := &m.Content[u.ContentIndex]
		if u.AnnotationIndex < 0 || u.AnnotationIndex >= len(p.Annotations) {
			p.Annotations = append(p.Annotations, u.Annotation)
			return
		}
		p.Annotations = append(p.Annotations[:u.AnnotationIndex+1], p.Annotations[u.AnnotationIndex:]...)
		p.Annotations[u.AnnotationIndex] = u.Annotation
	}
}
