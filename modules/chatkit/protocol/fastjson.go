package protocol

import (
	"encoding/json"
	"unicode/utf8"
)

// jsonAppender is an event that can append its own JSON for the common
// cases (a text reply); ok is false when it cannot and json.Marshal must.
type jsonAppender interface {
	appendJSON(dst []byte) (out []byte, ok bool)
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it: printable ASCII other than the quote, the backslash and the HTML
// characters is copied, anything else goes through json.Marshal.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendItemDone appends a thread.item.done event around an item's JSON
// (as json.Marshal(ItemDone{Item: item}) writes it).
func AppendItemDone(dst []byte, item []byte) []byte {
	dst = append(dst, `{"type":"thread.item.done","item":`...)
	dst = append(dst, item...)
	return append(dst, '}')
}

func (e StreamOptions) appendJSON(dst []byte) ([]byte, bool) {
	if e.AllowCancel {
		return append(dst, `{"type":"stream_options","stream_options":{"allow_cancel":true}}`...), true
	}
	return append(dst, `{"type":"stream_options","stream_options":{"allow_cancel":false}}`...), true
}

func (e ItemAdded) appendJSON(dst []byte) ([]byte, bool) {
	am, ok := e.Item.(*AssistantMessageItem)
	if !ok || am == nil {
		return dst, false
	}
	dst = append(dst, `{"type":"thread.item.added","item":`...)
	dst, ok = am.appendJSON(dst)
	return append(dst, '}'), ok
}

// appendJSON writes what MarshalJSON writes, for messages without
// annotations.
func (i *AssistantMessageItem) appendJSON(dst []byte) ([]byte, bool) {
	dst = appendItemHead(dst, "assistant_message", i.ID, i.ThreadID, i.CreatedAt)
	for k, c := range i.Content {
		if k > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = c.appendJSON(dst); !ok {
			return dst, false
		}
	}
	return append(dst, "]}"...), true
}

func (o OutputText) appendJSON(dst []byte) ([]byte, bool) {
	if len(o.Annotations) > 0 {
		return dst, false
	}
	dst = append(dst, `{"type":"output_text","text":`...)
	dst = appendString(dst, o.Text)
	return append(dst, `,"annotations":[]}`...), true
}

func (e ItemUpdated) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, `{"type":"thread.item.updated","item_id":`...)
	dst = appendString(dst, e.ItemID)
	dst = append(dst, `,"update":{"type":`...)
	var ok bool
	switch u := e.Update.(type) {
	case TextDelta:
		dst = append(dst, `"`+UpdateTextDelta+`","content_index":`...)
		dst = appendInt(dst, u.ContentIndex)
		dst = append(dst, `,"delta":`...)
		dst = appendString(dst, u.Delta)
		ok = true
	case ContentPartAdded:
		dst = append(dst, `"`+UpdateContentPartAdded+`","content_index":`...)
		dst = appendInt(dst, u.ContentIndex)
		dst = append(dst, `,"content":`...)
		dst, ok = u.Content.appendJSON(dst)
	case ContentPartDone:
		dst = append(dst, `"`+UpdateContentPartDone+`","content_index":`...)
		dst = appendInt(dst, u.ContentIndex)
		dst = append(dst, `,"content":`...)
		dst, ok = u.Content.appendJSON(dst)
	}
	return append(dst, "}}"...), ok
}

func appendInt(dst []byte, n int) []byte {
	if n >= 0 && n < 10 {
		return append(dst, byte('0'+n))
	}
	b, _ := json.Marshal(n)
	return append(dst, b...)
}

// MarshalItem is json.Marshal(it), byte for byte, without reflection for a
// text reply and a plain user message (issue 16: encoding the items of a
// turn by reflection was a twentieth of its CPU).
func MarshalItem(it Item) ([]byte, error) {
	var b []byte
	ok := false
	switch i := it.(type) {
	case *AssistantMessageItem:
		if i != nil {
			b, ok = i.appendJSON(make([]byte, 0, 256))
		}
	case *UserMessageItem:
		if i != nil {
			b, ok = i.appendJSON(make([]byte, 0, 256))
		}
	}
	if ok {
		return b, nil
	}
	return json.Marshal(it)
}

// appendJSON writes what MarshalJSON writes, for text parts, no
// attachments and default inference options.
func (i *UserMessageItem) appendJSON(dst []byte) ([]byte, bool) {
	if len(i.Attachments) > 0 || i.InferenceOptions.ToolChoice != nil || i.InferenceOptions.Model != "" {
		return dst, false
	}
	dst = appendItemHead(dst, "user_message", i.ID, i.ThreadID, i.CreatedAt)
	for k, c := range i.Content {
		if c.Type == contentTypeInputTag {
			return dst, false
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"input_text","text":`...)
		dst = appendString(dst, c.Text)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"attachments":[]`...)
	if i.QuotedText != "" {
		dst = append(dst, `,"quoted_text":`...)
		dst = appendString(dst, i.QuotedText)
	}
	return append(dst, `,"inference_options":{}}`...), true
}

// appendItemHead writes the fields every item begins with, as MarshalJSON
// orders them, up to the opening of its content list.
func appendItemHead(dst []byte, typ, id, threadID string, created Time) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"thread_id":`...)
	dst = appendString(dst, threadID)
	dst = append(dst, `,"created_at":"`...)
	dst = created.Time.UTC().AppendFormat(dst, TimeLayout)
	return append(dst, `","content":[`...)
}

func (e ThreadCreated) appendJSON(dst []byte) ([]byte, bool) {
	return appendThreadEvent(dst, `{"type":"thread.created","thread":`, e.Thread)
}

func (e ThreadUpdated) appendJSON(dst []byte) ([]byte, bool) {
	return appendThreadEvent(dst, `{"type":"thread.updated","thread":`, e.Thread)
}

// appendThreadEvent writes what the events' MarshalJSON writes for a
// thread sent without items or image domains (a new thread, a new title:
// one per turn); ok is false otherwise.
func appendThreadEvent(dst []byte, head string, t *Thread) ([]byte, bool) {
	if t == nil || len(t.Items.Data) > 0 || t.Items.HasMore || t.AllowedImageDomains != nil {
		return dst, false
	}
	dst = append(dst, head...)
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, t.ID)
	if t.Title != "" {
		dst = append(dst, `,"title":`...)
		dst = appendString(dst, t.Title)
	}
	dst = append(dst, `,"created_at":"`...)
	dst = t.CreatedAt.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `","status":{"type":`...)
	status := t.Status.Type
	if status == "" {
		status = StatusActive
	}
	dst = appendString(dst, status)
	if t.Status.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, t.Status.Reason)
	}
	return append(dst, `},"metadata":{},"items":{"data":[],"has_more":false}}}`...), true
}
