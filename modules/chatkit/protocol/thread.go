package protocol

import "encoding/json"

// Thread is a conversation as the client sees it. Server-side metadata
// (course, stage, page) is never sent: Metadata is always {} on the wire.
type Thread struct {
	ID                  string
	Title               string
	CreatedAt           Time
	Status              Status
	AllowedImageDomains []string
	Items               Page[Item]
}

// MarshalJSON writes the reference shape: metadata {} and items always there.
func (t *Thread) MarshalJSON() ([]byte, error) {
	items := t.Items
	if items.Data == nil {
		items.Data = []Item{}
	}
	status := t.Status
	if status.Type == "" {
		status.Type = StatusActive
	}
	return json.Marshal(struct {
		ID                  string         `json:"id"`
		Title               string         `json:"title,omitempty"`
		CreatedAt           Time           `json:"created_at"`
		Status              Status         `json:"status"`
		AllowedImageDomains []string       `json:"allowed_image_domains,omitempty"`
		Metadata            map[string]any `json:"metadata"`
		Items               Page[Item]     `json:"items"`
	}{t.ID, t.Title, t.CreatedAt, status, t.AllowedImageDomains, map[string]any{}, items})
}

// Thread statuses. Locked and closed threads refuse new messages.
const (
	StatusActive = "active"
	StatusLocked = "locked"
	StatusClosed = "closed"
)

// Status is a thread's status.
type Status struct {
	Type   string `json:"type"`
	Reason string `json:"reason,omitempty"`
}

// Page is one page of a list: data, has_more, and after (the id of the last
// element) only when there is more.
type Page[T any] struct {
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
	After   string `json:"after,omitempty"`
}

// MarshalJSON keeps data a list.
func (p Page[T]) MarshalJSON() ([]byte, error) {
	type plain Page[T]
	v := plain(p)
	if v.Data == nil {
		v.Data = []T{}
	}
	if !v.HasMore {
		v.After = ""
	}
	return json.Marshal(v)
}
