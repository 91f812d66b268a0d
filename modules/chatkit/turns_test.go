package chatkit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// TestConcurrentTurnsDoNotInterleave: two messages sent at once to one
// thread are answered one after the other, so each reply follows its own
// question in the stored order.
func TestConcurrentTurnsDoNotInterleave(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	h := testHandler(t, db, &Echo{Delay: caddy.Duration(5 * time.Millisecond)}, nil, nil)
	thread := threadOf(t, frames(t, post(t, h, "u1", hiBody).Body.String()))
	var wg sync.WaitGroup
	for _, text := range []string{"alpha beta gamma delta", "one two three four"} {
		wg.Add(1)
		go func(text string) {
			defer wg.Done()
			post(t, h, "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+thread+`","input":{"content":[{"type":"input_text","text":"`+text+`"}],"attachments":[],"inference_options":{}}}}`)
		}(text)
	}
	wg.Wait()
	items := allItems(t, db, thread)
	if len(items) != 6 {
		t.Fatalf("%d items", len(items))
	}
	for i := 2; i < 6; i += 2 {
		u, _ := protocol.DecodeItem([]byte(items[i].Body))
		a, _ := protocol.DecodeItem([]byte(items[i+1].Body))
		q := u.(*protocol.UserMessageItem).Text()
		if got := a.(*protocol.AssistantMessageItem).Text(); got != "Echo: "+q {
			t.Fatalf("item %d answers %q after question %q", i+1, got, q)
		}
	}
}

// TestLockedThreadRefusesMessages: locked and closed are enforced by the
// server (the client only greys out the composer).
func TestLockedThreadRefusesMessages(t *testing.T) {
	t.Parallel()
	db := testutil.OpenDatabase(t, "sqlite")
	h := testHandler(t, db, &Echo{}, nil, nil)
	thread := threadOf(t, frames(t, post(t, h, "u1", hiBody).Body.String()))
	if _, err := db.Exec(context.Background(), `UPDATE chatkit_threads SET status = ? WHERE id = ?`,
		`{"type":"locked","reason":"Exam in progress"}`, thread); err != nil {
		t.Fatal(err)
	}
	w := post(t, h, "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+thread+`","input":{"content":[{"type":"input_text","text":"x"}],"attachments":[],"inference_options":{}}}}`)
	if w.Code != 409 || !strings.Contains(w.Body.String(), "thread_locked") {
		t.Fatalf("locked: %d %s", w.Code, w.Body)
	}
	w = post(t, h, "u1", `{"type":"threads.get_by_id","params":{"thread_id":"`+thread+`"}}`)
	if !strings.Contains(w.Body.String(), `"status":{"type":"locked","reason":"Exam in progress"}`) {
		t.Fatalf("status not shown: %s", w.Body)
	}
}

func TestValidateRejectsNegativeLimits(t *testing.T) {
	t.Parallel()
	for _, h := range []*Handler{{MaxInputBytes: -1}, {MaxStreamDuration: -1}, {Retention: -1}, {ThreadOrder: "newest"}} {
		if err := h.Validate(); err == nil {
			t.Errorf("accepted %+v", h)
		}
	}
}
