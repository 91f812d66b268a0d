package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Item types the server itself builds or inspects. Every other type (widgets,
// workflows, tasks, images, structured input, end_of_turn…) travels as a
// RawItem so that responders can emit it and history keeps it unchanged.
const (
	TypeUserMessage       = "user_message"
	TypeAssistantMessage  = "assistant_message"
	TypeClientToolCall    = "client_tool_call"
	TypeHiddenContext     = "hidden_context_item"
	TypeSDKHiddenContext  = "sdk_hidden_context"
	TypeWidget            = "widget"
	contentTypeInputText  = "input_text"
	contentTypeInputTag   = "input_tag"
	contentTypeOutputText = "output_text"
)

// Item is one thread item in its wire form.
type Item interface {
	ItemID() string
	ItemType() string
}

// Hidden reports whether items of this type are for the model only and must
// never reach the client.
func Hidden(itemType string) bool {
	return itemType == TypeHiddenContext || itemType == TypeSDKHiddenContext
}

// UserMessageItem is a message the user sent.
type UserMessageItem struct {
	ID               string            `json:"id"`
	ThreadID         string            `json:"thread_id"`
	CreatedAt        Time              `json:"created_at"`
	Content          []UserContent     `json:"content"`
	Attachments      []json.RawMessage `json:"attachments"`
	QuotedText       string            `json:"quoted_text,omitempty"`
	InferenceOptions InferenceOptions  `json:"inference_options"`
}

// ItemID returns the id.
func (i *UserMessageItem) ItemID() string { return i.ID }

// ItemType returns "user_message".
func (i *UserMessageItem) ItemType() string { return TypeUserMessage }

// Text joins the message's text parts (tags by their text), for responders
// and usage accounting.
func (i *UserMessageItem) Text() string {
	var n int
	for _, c := range i.Content {
		n += len(c.Text) + 1
	}
	b := make([]byte, 0, n)
	for k, c := range i.Content {
		if k > 0 {
			b = append(b, ' ')
		}
		b = append(b, c.Text...)
	}
	return string(b)
}

// MarshalJSON adds the type and keeps the lists non-null.
func (i *UserMessageItem) MarshalJSON() ([]byte, error) {
	type plain UserMessageItem
	v := plain(*i)
	if v.Content == nil {
		v.Content = []UserContent{}
	}
	if v.Attachments == nil {
		v.Attachments = []json.RawMessage{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeUserMessage, v})
}

// UserContent is one part of a user message: input_text or input_tag.
type UserContent struct {
	Type        string         `json:"type"`
	Text        string         `json:"text"`
	ID          string         `json:"id,omitempty"`
	Data        map[string]any `json:"data,omitempty"`
	Group       string         `json:"group,omitempty"`
	Interactive bool           `json:"interactive,omitempty"`
}

// MarshalJSON writes each variant with exactly its fields: tags always carry
// data and interactive, as the reference does.
func (c UserContent) MarshalJSON() ([]byte, error) {
	if c.Type != contentTypeInputTag {
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{contentTypeInputText, c.Text})
	}
	data := c.Data
	if data == nil {
		data = map[string]any{}
	}
	return json.Marshal(struct {
		Type        string         `json:"type"`
		ID          string         `json:"id"`
		Text        string         `json:"text"`
		Data        map[string]any `json:"data"`
		Group       string         `json:"group,omitempty"`
		Interactive bool           `json:"interactive"`
	}{contentTypeInputTag, c.ID, c.Text, data, c.Group, c.Interactive})
}

// InferenceOptions are the tool and model the user picked in the composer.
type InferenceOptions struct {
	ToolChoice *ToolChoice `json:"tool_choice,omitempty"`
	Model      string      `json:"model,omitempty"`
}

// ToolChoice names a composer tool.
type ToolChoice struct {
	ID string `json:"id"`
}

// AssistantMessageItem is a reply.
type AssistantMessageItem struct {
	ID        string       `json:"id"`
	ThreadID  string       `json:"thread_id"`
	CreatedAt Time         `json:"created_at"`
	Content   []OutputText `json:"content"`
}

// ItemID returns the id.
func (i *AssistantMessageItem) ItemID() string { return i.ID }

// ItemType returns "assistant_message".
func (i *AssistantMessageItem) ItemType() string { return TypeAssistantMessage }

// Text joins the text of every part.
func (i *AssistantMessageItem) Text() string {
	var s string
	for _, c := range i.Content {
		s += c.Text
	}
	return s
}

// MarshalJSON adds the type and keeps the lists non-null.
func (i *AssistantMessageItem) MarshalJSON() ([]byte, error) {
	type plain AssistantMessageItem
	v := plain(*i)
	if v.Content == nil {
		v.Content = []OutputText{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeAssistantMessage, v})
}

// Clone returns a deep enough copy for independent updates.
func (i *AssistantMessageItem) Clone() *AssistantMessageItem {
	c := *i
	c.Content = make([]OutputText, len(i.Content))
	for k, p := range i.Content {
		p.Annotations = append([]json.RawMessage(nil), p.Annotations...)
		c.Content[k] = p
	}
	return &c
}

// OutputText is one part of an assistant message.
type OutputText struct {
	Text        string            `json:"text"`
	Annotations []json.RawMessage `json:"annotations"`
}

// MarshalJSON adds the type and keeps annotations a list.
func (o OutputText) MarshalJSON() ([]byte, error) {
	type plain OutputText
	v := plain(o)
	if v.Annotations == nil {
		v.Annotations = []json.RawMessage{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{contentTypeOutputText, v})
}

// ClientToolCallItem asks the client to run a tool (onClientTool) and post
// its result with threads.add_client_tool_output.
type ClientToolCallItem struct {
	ID        string          `json:"id"`
	ThreadID  string          `json:"thread_id"`
	CreatedAt Time            `json:"created_at"`
	Status    string          `json:"status"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments map[string]any  `json:"arguments"`
	Output    json.RawMessage `json:"output,omitempty"`
}

// ItemID returns the id.
func (i *ClientToolCallItem) ItemID() string { return i.ID }

// ItemType returns "client_tool_call".
func (i *ClientToolCallItem) ItemType() string { return TypeClientToolCall }

// MarshalJSON adds the type and defaults.
func (i *ClientToolCallItem) MarshalJSON() ([]byte, error) {
	type plain ClientToolCallItem
	v := plain(*i)
	if v.Arguments == nil {
		v.Arguments = map[string]any{}
	}
	if v.Status == "" {
		v.Status = "pending"
	}
	if string(v.Output) == "null" {
		v.Output = nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeClientToolCall, v})
}

// SDKHiddenContextItem is a note for the model, never shown (the server adds
// one when the user stops a reply).
type SDKHiddenContextItem struct {
	ID        string `json:"id"`
	ThreadID  string `json:"thread_id"`
	CreatedAt Time   `json:"created_at"`
	Content   string `json:"content"`
}

// ItemID returns the id.
func (i *SDKHiddenContextItem) ItemID() string { return i.ID }

// ItemType returns "sdk_hidden_context".
func (i *SDKHiddenContextItem) ItemType() string { return TypeSDKHiddenContext }

// MarshalJSON adds the type.
func (i *SDKHiddenContextItem) MarshalJSON() ([]byte, error) {
	type plain SDKHiddenContextItem
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeSDKHiddenContext, plain(*i)})
}

// RawItem is any other item, kept as the JSON object it arrived as, so
// widgets, workflows and future types round-trip unchanged.
type RawItem struct {
	ID   string
	Type string
	JSON json.RawMessage
}

// ItemID returns the id.
func (i *RawItem) ItemID() string { return i.ID }

// ItemType returns the type.
func (i *RawItem) ItemType() string { return i.Type }

// MarshalJSON writes the object unchanged.
func (i *RawItem) MarshalJSON() ([]byte, error) { return i.JSON, nil }

// itemHead is what every item has.
type itemHead struct {
	ID        string `json:"id"`
	ThreadID  string `json:"thread_id"`
	Type      string `json:"type"`
	CreatedAt *Time  `json:"created_at"`
}

// DecodeItem reads an item in wire form.
func DecodeItem(b []byte) (Item, error) {
	var head itemHead
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, err
	}
	if head.ID == "" || head.Type == "" {
		return nil, errors.New("item needs an id and a type")
	}
	var it Item
	switch head.Type {
	case TypeUserMessage:
		it = new(UserMessageItem)
	case TypeAssistantMessage:
		it = new(AssistantMessageItem)
	case TypeClientToolCall:
		it = new(ClientToolCallItem)
	case TypeSDKHiddenContext:
		it = new(SDKHiddenContextItem)
	default:
		return &RawItem{ID: head.ID, Type: head.Type, JSON: append(json.RawMessage(nil), b...)}, nil
	}
	if err := json.Unmarshal(b, it); err != nil {
		return nil, fmt.Errorf("decoding %s item: %w", head.Type, err)
	}
	return it, nil
}
