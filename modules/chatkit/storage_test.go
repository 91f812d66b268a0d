package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

// TestStorageConformance runs every storage method with the same
// expectations on SQLite and PostgreSQL.
func TestStorageConformance(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		st := &storage{db: db}
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		newThread := func(t *testing.T, owner string, at time.Time, first protocol.Item) *threadRow {
			t.Helper()
			tr := &threadRow{ID: protocol.NewID("thr"), Owner: owner, CreatedAt: at.UnixMilli(), LastActivityAt: at.UnixMilli(),
				Status: protocol.Status{Type: protocol.StatusActive}}
			if err := st.createThread(ctx, tr, first, nil, nil); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		reply := func(thread, text string) *protocol.AssistantMessageItem {
			return &protocol.AssistantMessageItem{ID: protocol.NewID("msg"), ThreadID: thread, CreatedAt: protocol.NewTime(base),
				Content: []protocol.OutputText{{Text: text, Annotations: []json.RawMessage{}}}}
		}
		note := func(thread string) *protocol.SDKHiddenContextItem {
			return &protocol.SDKHiddenContextItem{ID: protocol.NewID("shcx"), ThreadID: thread, CreatedAt: protocol.NewTime(base), Content: "n"}
		}
		ids := func(items []storedItem) []string {
			out := make([]string, len(items))
			for i, it := range items {
				out[i] = it.Item.ItemID()
			}
			return out
		}

		t.Run("threads", func(t *testing.T) {
			first := &protocol.UserMessageItem{ID: protocol.NewID("msg"), CreatedAt: protocol.NewTime(base),
				Content: []protocol.UserContent{{Type: "input_text", Text: "hi"}}}
			tr := &threadRow{ID: protocol.NewID("thr"), Owner: "ann", Title: "T", CreatedAt: base.UnixMilli(), LastActivityAt: base.UnixMilli(),
				Status:   protocol.Status{Type: protocol.StatusLocked, Reason: "exam"},
				Metadata: ThreadMetadata{Course: "python", Stage: "2", Lesson: "loops", URL: "https://x/l", Title: "Loops"}}
			if err := st.createThread(ctx, tr, first, nil, []byte(`{"url":"https://x/l"}`)); err != nil {
				t.Fatal(err)
			}
			got, err := st.getThread(ctx, "ann", tr.ID)
			if err != nil || !reflect.DeepEqual(got, tr) {
				t.Fatalf("getThread = %+v, %v; want %+v", got, err, tr)
			}
			if items, _ := st.recentItems(ctx, tr.ID, 10, 0); len(items) != 1 || items[0].Item.ItemID() != first.ID || items[0].Seq != 1 {
				t.Fatalf("first item %+v", items)
			}
			if _, err := st.getThread(ctx, "bob", tr.ID); !errors.Is(err, errNotFound) {
				t.Fatalf("another owner's thread: %v", err)
			}
			if err := st.updateTitle(ctx, "bob", tr.ID, "pwned", base); !errors.Is(err, errNotFound) {
				t.Fatalf("renaming another owner's thread: %v", err)
			}
			if err := st.updateTitle(ctx, "ann", tr.ID, "", base); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.getThread(ctx, "ann", tr.ID); got.Title != "" {
				t.Fatalf("title %q after clearing it", got.Title)
			}
			if err := st.recordFeedback(ctx, "ann", tr.ID, []string{first.ID}, "positive", base); err != nil {
				t.Fatal(err)
			}
			if err := st.deleteThread(ctx, "bob", tr.ID); !errors.Is(err, errNotFound) {
				t.Fatalf("deleting another owner's thread: %v", err)
			}
			if err := st.deleteThread(ctx, "ann", tr.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.getThread(ctx, "ann", tr.ID); !errors.Is(err, errNotFound) {
				t.Fatalf("deleted thread: %v", err)
			}
			if _, err := st.getItem(ctx, tr.ID, first.ID); !errors.Is(err, errNotFound) {
				t.Fatalf("item of a deleted thread: %v", err)
			}
			if kind, _ := st.feedbackOf(ctx, tr.ID, first.ID); kind != "" {
				t.Fatalf("feedback of a deleted thread: %q", kind)
			}
		})

		t.Run("listThreads", func(t *testing.T) {
			a := newThread(t, "lister", base, nil)
			b := newThread(t, "lister", base.Add(time.Second), nil)
			other := newThread(t, "someone", base, nil)
			rows, more, err := st.listThreads(ctx, "lister", pageQuery{limit: 1, desc: true})
			if err != nil || more != true || len(rows) != 1 || rows[0].ID != b.ID {
				t.Fatalf("first page %v %v %v", rows, more, err)
			}
			rows, more, err = st.listThreads(ctx, "lister", pageQuery{after: b.ID, limit: 1, desc: true})
			if err != nil || more || len(rows) != 1 || rows[0].ID != a.ID {
				t.Fatalf("second page %v %v %v", rows, more, err)
			}
			if _, _, err := st.listThreads(ctx, "lister", pageQuery{after: other.ID, limit: 5}); !errors.Is(err, errBadCursor) {
				t.Fatalf("another owner's cursor: %v", err)
			}
			// A message in the older thread moves it first by activity
			// (thread_order activity), not by creation.
			if err := st.addItem(ctx, a.ID, reply(a.ID, "later"), base.Add(time.Hour), nil); err != nil {
				t.Fatal(err)
			}
			rows, more, err = st.listThreads(ctx, "lister", pageQuery{limit: 1, desc: true, byActivity: true})
			if err != nil || !more || len(rows) != 1 || rows[0].ID != a.ID {
				t.Fatalf("first page by activity %v %v %v", rows, more, err)
			}
			rows, more, err = st.listThreads(ctx, "lister", pageQuery{after: a.ID, limit: 1, desc: true, byActivity: true})
			if err != nil || more || len(rows) != 1 || rows[0].ID != b.ID {
				t.Fatalf("second page by activity %v %v %v", rows, more, err)
			}
			if rows, _, _ = st.listThreads(ctx, "lister", pageQuery{limit: 1, desc: true}); rows[0].ID != b.ID {
				t.Fatalf("by creation, the newer thread stays first: %v", rows[0].ID)
			}
		})

		t.Run("items", func(t *testing.T) {
			tr := newThread(t, "ann", base, nil)
			r1, hidden, r2 := reply(tr.ID, "one"), note(tr.ID), reply(tr.ID, "two")
			for _, it := range []protocol.Item{r1, hidden, r2} {
				if err := st.addItem(ctx, tr.ID, it, base.Add(time.Minute), nil); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := st.getThread(ctx, "ann", tr.ID); got.LastActivityAt != base.Add(time.Minute).UnixMilli() {
				t.Fatalf("last activity %d", got.LastActivityAt)
			}
			if err := st.addItem(ctx, tr.ID, r1, base, nil); !store.IsUniqueViolation(err) {
				t.Fatalf("a reused item id: %v", err)
			}
			if err := st.addItem(ctx, "thr_missing", reply("thr_missing", "x"), base, nil); !errors.Is(err, errNotFound) {
				t.Fatalf("an item for a missing thread: %v", err)
			}
			recent, err := st.recentItems(ctx, tr.ID, 2, 0)
			if err != nil || !reflect.DeepEqual(ids(recent), []string{hidden.ID, r2.ID}) {
				t.Fatalf("recentItems = %v, %v", ids(recent), err)
			}
			bodies, listed, more, err := st.listItems(ctx, tr.ID, pageQuery{limit: 5})
			if err != nil || more || !reflect.DeepEqual(listed, []string{r1.ID, r2.ID}) || len(bodies) != 2 {
				t.Fatalf("listItems = %v %v %v", listed, more, err)
			}
			if _, _, _, err := st.listItems(ctx, tr.ID, pageQuery{after: hidden.ID, limit: 5}); !errors.Is(err, errBadCursor) {
				t.Fatalf("a hidden item as cursor: %v", err)
			}
			got, err := st.getItem(ctx, tr.ID, r2.ID)
			if err != nil || got.Seq != 3 || got.Item.(*protocol.AssistantMessageItem).Text() != "two" {
				t.Fatalf("getItem = %+v, %v", got, err)
			}
			// saveItem replaces in place (same seq), or appends a new item.
			changed := reply(tr.ID, "one, edited")
			changed.ID = r1.ID
			if err := st.saveItem(ctx, tr.ID, changed, base); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.getItem(ctx, tr.ID, r1.ID); got.Seq != 1 || got.Item.(*protocol.AssistantMessageItem).Text() != "one, edited" {
				t.Fatalf("saved item %+v", got)
			}
			r3 := reply(tr.ID, "three")
			if err := st.saveItem(ctx, tr.ID, r3, base); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.getItem(ctx, tr.ID, r3.ID); got.Seq != 4 {
				t.Fatalf("appended item %+v", got)
			}
			if err := st.deleteItem(ctx, tr.ID, r2.ID); err != nil {
				t.Fatal(err)
			}
			if err := st.deleteItemsAfter(ctx, tr.ID, 1); err != nil {
				t.Fatal(err)
			}
			if all, _ := st.recentItems(ctx, tr.ID, 10, 0); !reflect.DeepEqual(ids(all), []string{r1.ID}) {
				t.Fatalf("after deletes: %v", ids(all))
			}
		})

		t.Run("feedback", func(t *testing.T) {
			tr := newThread(t, "ann", base, nil)
			r, hidden := reply(tr.ID, "x"), note(tr.ID)
			for _, it := range []protocol.Item{r, hidden} {
				if err := st.addItem(ctx, tr.ID, it, base, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.recordFeedback(ctx, "ann", tr.ID, []string{r.ID, hidden.ID, "msg_unknown"}, "negative", base); err != nil {
				t.Fatal(err)
			}
			if err := st.recordFeedback(ctx, "ann", tr.ID, []string{r.ID}, "positive", base); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{r.ID: "positive", hidden.ID: "", "msg_unknown": ""} {
				if got, err := st.feedbackOf(ctx, tr.ID, id); err != nil || got != want {
					t.Fatalf("feedbackOf(%s) = %q, %v; want %q", id, got, err, want)
				}
			}
		})

		t.Run("usage", func(t *testing.T) {
			day1, day2 := base, base.Add(24*time.Hour)
			for _, u := range []struct {
				owner string
				at    time.Time
				d     usageDelta
			}{
				{"ann", day1, usageDelta{Messages: 1, Replies: 1, TTFTms: 100, TTFTCount: 1, ReplyMS: 300, ReplyCount: 1}},
				{"ann", day1, usageDelta{Messages: 1, Errors: 1, Cancelled: 1, TTFTms: 300, TTFTCount: 1}},
				{"bob", day2, usageDelta{Messages: 2}},
			} {
				if err := st.addUsage(ctx, u.owner, u.at, u.d); err != nil {
					t.Fatal(err)
				}
			}
			rows, err := st.usage(ctx, "", "2026-05-01", "2026-05-02", 10)
			want := []UsageRow{
				{User: "ann", Day: "2026-05-01", Messages: 2, Replies: 1, Errors: 1, Cancelled: 1, AvgTTFTMS: 200, AvgReplyMS: 300, TotalReplyMS: 300},
				{User: "bob", Day: "2026-05-02", Messages: 2},
			}
			if err != nil || !reflect.DeepEqual(rows, want) {
				t.Fatalf("usage = %+v, %v", rows, err)
			}
			if rows, _ := st.usage(ctx, "bob", "2026-05-01", "2026-05-02", 10); len(rows) != 1 || rows[0].User != "bob" {
				t.Fatalf("one user: %+v", rows)
			}
			if rows, _ := st.usage(ctx, "", "2026-05-02", "2026-05-30", 10); len(rows) != 1 || rows[0].Day != "2026-05-02" {
				t.Fatalf("date range: %+v", rows)
			}
			if rows, _ := st.usage(ctx, "", "2026-05-01", "2026-05-02", 1); len(rows) != 1 {
				t.Fatalf("limit: %+v", rows)
			}
			if rows, err := st.usage(ctx, "nobody", "2026-05-01", "2026-05-02", 10); err != nil || rows == nil || len(rows) != 0 {
				t.Fatalf("no rows: %#v, %v", rows, err)
			}
		})

		t.Run("deleteInactive", func(t *testing.T) {
			old := base.Add(-1000 * time.Hour)
			var stale []*threadRow
			var replies []string
			for i := 0; i < 5; i++ {
				r := reply("", "x")
				tr := newThread(t, "retired", old, r)
				if err := st.recordFeedback(ctx, "retired", tr.ID, []string{r.ID}, "positive", old); err != nil {
					t.Fatal(err)
				}
				stale, replies = append(stale, tr), append(replies, r.ID)
			}
			fresh := newThread(t, "retired", base, nil)
			n, err := st.deleteInactive(ctx, base.Add(-time.Hour), 2) // several batches
			if err != nil || n != 5 {
				t.Fatalf("deleted %d, %v; want 5", n, err)
			}
			for i, tr := range stale {
				if _, err := st.getThread(ctx, "retired", tr.ID); !errors.Is(err, errNotFound) {
					t.Fatalf("stale thread kept: %v", err)
				}
				if items, _ := st.recentItems(ctx, tr.ID, 5, 0); len(items) != 0 {
					t.Fatalf("items of a stale thread kept")
				}
				if kind, _ := st.feedbackOf(ctx, tr.ID, replies[i]); kind != "" {
					t.Fatalf("feedback of a stale thread kept")
				}
			}
			if _, err := st.getThread(ctx, "retired", fresh.ID); err != nil {
				t.Fatalf("fresh thread deleted: %v", err)
			}
		})
	})
}
