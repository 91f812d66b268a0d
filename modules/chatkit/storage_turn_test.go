package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

// TestTurnWrites runs the two writes of a turn (appendUserMessage,
// finishTurn) with the same expectations on SQLite (transactions) and
// PostgreSQL (one statement each, storage_pg.go): sequence numbers, the
// refusals, a duplicate id, a thread deleted between the two writes, usage.
func TestTurnWrites(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		st := &storage{db: db, batch: newBatcher(db, 10*time.Second)}
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		open := func(th *threadRow) error { return checkOpen(th) }
		newThread := func(t *testing.T, owner string) *threadRow {
			t.Helper()
			tr := &threadRow{ID: protocol.NewID("thr"), Owner: owner, CreatedAt: base.UnixMilli(), LastActivityAt: base.UnixMilli(),
				Status: protocol.Status{Type: protocol.StatusActive}}
			first := &protocol.UserMessageItem{ID: protocol.NewID("msg"), ThreadID: tr.ID, CreatedAt: protocol.NewTime(base),
				Content: []protocol.UserContent{{Type: "input_text", Text: "first"}}}
			if err := st.createThread(ctx, tr, first, nil, nil); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		userMsg := func(thread, text string) *protocol.UserMessageItem {
			return &protocol.UserMessageItem{ID: protocol.NewID("msg"), ThreadID: thread, CreatedAt: protocol.NewTime(base),
				Content: []protocol.UserContent{{Type: "input_text", Text: text}}}
		}
		done := func(it protocol.Item) finishedItem {
			b, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			return finishedItem{item: it, body: b}
		}
		reply := func(thread, text string) *protocol.AssistantMessageItem {
			return &protocol.AssistantMessageItem{ID: protocol.NewID("msg"), ThreadID: thread, CreatedAt: protocol.NewTime(base),
				Content: []protocol.OutputText{{Text: text, Annotations: []json.RawMessage{}}}}
		}
		seqs := func(t *testing.T, thread string) map[string]int64 {
			t.Helper()
			items, err := st.recentItems(ctx, thread, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]int64{}
			for _, it := range items {
				out[it.Item.ItemID()] = it.Seq
			}
			return out
		}
		usageOf := func(t *testing.T, owner string) UsageRow {
			t.Helper()
			rows, err := st.usage(ctx, owner, "2026-05-01", "2026-05-01", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				return UsageRow{}
			}
			return rows[0]
		}
		var nextSeqOf = func(t *testing.T, thread string) (seq, activity int64) {
			t.Helper()
			if err := db.QueryRow(ctx, "SELECT next_seq, last_activity_at FROM chatkit_threads WHERE id = ?", thread).Scan(&seq, &activity); err != nil {
				t.Fatal(err)
			}
			return seq, activity
		}

		t.Run("turn", func(t *testing.T) {
			tr := newThread(t, "ann")
			later := base.Add(time.Minute)
			u := userMsg(tr.ID, "hello")
			th, seq, err := st.appendUserMessage(ctx, "ann", tr.ID, u, nil, later, []byte(`{"url":"https://x/l"}`), open)
			if err != nil || seq != 2 {
				t.Fatalf("appendUserMessage = %d, %v", seq, err)
			}
			want := *tr
			want.LastActivityAt = later.UnixMilli()
			if !reflect.DeepEqual(th, &want) {
				t.Fatalf("thread %+v, want %+v", th, &want)
			}
			var pageCtx string
			if err := db.QueryRow(ctx, "SELECT context FROM chatkit_items WHERE thread_id = ? AND id = ?", tr.ID, u.ID).Scan(&pageCtx); err != nil || pageCtx != `{"url":"https://x/l"}` {
				t.Fatalf("page context %q, %v", pageCtx, err)
			}
			r, note := reply(tr.ID, "hi"), &protocol.SDKHiddenContextItem{ID: protocol.NewID("shcx"), ThreadID: tr.ID, Content: "n"}
			title := "Greetings"
			end := base.Add(2 * time.Minute)
			dups, err := st.finishTurn(ctx, "ann", tr.ID, []finishedItem{done(r), done(note)}, &title, end,
				usageDelta{Messages: 1, Replies: 1, TTFTms: 10, TTFTCount: 1, ReplyMS: 30, ReplyCount: 1})
			if err != nil || dups != nil {
				t.Fatalf("finishTurn = %v, %v", dups, err)
			}
			if got := seqs(t, tr.ID); got[u.ID] != 2 || got[r.ID] != 3 || got[note.ID] != 4 || len(got) != 4 {
				t.Fatalf("sequence numbers %v", got)
			}
			if _, listed, _, _ := st.listItems(ctx, tr.ID, pageQuery{limit: 10}); len(listed) != 3 {
				t.Fatalf("the hidden item is listed: %v", listed)
			}
			got, _ := st.getThread(ctx, "ann", tr.ID)
			if got.Title != title || got.LastActivityAt != end.UnixMilli() {
				t.Fatalf("thread after the turn %+v", got)
			}
			if n, _ := nextSeqOf(t, tr.ID); n != 4 {
				t.Fatalf("next_seq %d", n)
			}
			if u := usageOf(t, "ann"); u.Messages != 1 || u.Replies != 1 || u.AvgTTFTMS != 10 || u.TotalReplyMS != 30 {
				t.Fatalf("usage %+v", u)
			}
			// A title alone, then usage alone.
			title2 := ""
			if _, err := st.finishTurn(ctx, "ann", tr.ID, nil, &title2, end, usageDelta{}); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.getThread(ctx, "ann", tr.ID); got.Title != "" {
				t.Fatalf("title %q after clearing it", got.Title)
			}
			if _, err := st.finishTurn(ctx, "ann", tr.ID, nil, nil, end, usageDelta{Messages: 1, Errors: 1}); err != nil {
				t.Fatal(err)
			}
			if u := usageOf(t, "ann"); u.Messages != 2 || u.Errors != 1 || u.Replies != 1 {
				t.Fatalf("usage %+v", u)
			}
		})

		t.Run("duplicate id", func(t *testing.T) {
			tr := newThread(t, "dup")
			first := reply(tr.ID, "first")
			if _, err := st.finishTurn(ctx, "dup", tr.ID, []finishedItem{done(first)}, nil, base, usageDelta{}); err != nil {
				t.Fatal(err)
			}
			again := reply(tr.ID, "second")
			again.ID = first.ID
			fresh := reply(tr.ID, "third")
			dups, err := st.finishTurn(ctx, "dup", tr.ID, []finishedItem{done(again), done(fresh)}, nil, base, usageDelta{Messages: 1})
			if err != nil || !reflect.DeepEqual(dups, []string{first.ID}) {
				t.Fatalf("finishTurn = %v, %v; want the duplicate reported", dups, err)
			}
			if it, _ := st.getItem(ctx, tr.ID, first.ID); it.Item.(*protocol.AssistantMessageItem).Text() != "first" {
				t.Fatalf("the earlier item was replaced: %+v", it)
			}
			if got := seqs(t, tr.ID); got[fresh.ID] != 4 {
				t.Fatalf("the other item of the turn: %v", got)
			}
			if u := usageOf(t, "dup"); u.Messages != 1 {
				t.Fatalf("usage of the turn not counted: %+v", u)
			}
		})

		t.Run("deleted between the writes", func(t *testing.T) {
			tr := newThread(t, "gone")
			if _, _, err := st.appendUserMessage(ctx, "gone", tr.ID, userMsg(tr.ID, "x"), nil, base, nil, open); err != nil {
				t.Fatal(err)
			}
			if err := st.deleteThread(ctx, "gone", tr.ID); err != nil {
				t.Fatal(err)
			}
			r := reply(tr.ID, "late")
			title := "late"
			dups, err := st.finishTurn(ctx, "gone", tr.ID, []finishedItem{done(r)}, &title, base, usageDelta{Messages: 1, Replies: 1})
			if !errors.Is(err, errNotFound) || dups != nil {
				t.Fatalf("finishTurn on a deleted thread = %v, %v", dups, err)
			}
			if _, err := st.getItem(ctx, tr.ID, r.ID); !errors.Is(err, errNotFound) {
				t.Fatalf("item of a deleted thread stored: %v", err)
			}
			if u := usageOf(t, "gone"); u.Messages != 1 || u.Replies != 1 {
				t.Fatalf("usage of the turn not counted: %+v", u)
			}
			if _, _, err := st.appendUserMessage(ctx, "gone", tr.ID, userMsg(tr.ID, "y"), nil, base, nil, open); !errors.Is(err, errNotFound) {
				t.Fatalf("a message to a deleted thread: %v", err)
			}
		})

		t.Run("concurrent turns", func(t *testing.T) {
			// Turns of one user on a few threads at once: every item gets
			// its own sequence number, the shared usage row counts them
			// all, no deadlock between thread and usage row locks.
			threads := []*threadRow{newThread(t, "many"), newThread(t, "many"), newThread(t, "many")}
			const turns = 30
			var wg sync.WaitGroup
			errs := make(chan error, turns)
			for i := range turns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr := threads[i%len(threads)]
					if _, _, err := st.appendUserMessage(ctx, "many", tr.ID, userMsg(tr.ID, "q"), nil, base, nil, open); err != nil {
						errs <- err
						return
					}
					_, err := st.finishTurn(ctx, "many", tr.ID, []finishedItem{done(reply(tr.ID, "a")), done(reply(tr.ID, "b"))}, nil, base,
						usageDelta{Messages: 1, Replies: 1})
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, tr := range threads {
				got := seqs(t, tr.ID)
				used := map[int64]bool{}
				for _, seq := range got {
					used[seq] = true
				}
				if len(got) != 1+3*turns/len(threads) || len(used) != len(got) {
					t.Fatalf("thread %s: %d items, %d sequence numbers", tr.ID, len(got), len(used))
				}
			}
			if u := usageOf(t, "many"); u.Messages != turns || u.Replies != turns {
				t.Fatalf("usage %+v", u)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			tr := newThread(t, "ref")
			seq0, act0 := nextSeqOf(t, tr.ID)
			later := base.Add(time.Hour)
			if _, _, err := st.appendUserMessage(ctx, "bob", tr.ID, userMsg(tr.ID, "x"), nil, later, nil, open); !errors.Is(err, errNotFound) {
				t.Fatalf("another owner's thread: %v", err)
			}
			unsupportedErr := unsupported("attachments")
			_, _, err := st.appendUserMessage(ctx, "ref", tr.ID, userMsg(tr.ID, "x"), nil, later, nil, func(th *threadRow) error {
				if err := checkOpen(th); err != nil {
					return err
				}
				return unsupportedErr
			})
			if err != unsupportedErr {
				t.Fatalf("a refusal of an active thread: %v", err)
			}
			for _, status := range []string{`{"type":"locked","reason":"Exam in progress"}`, `{"type":"closed"}`} {
				if _, err := db.Exec(ctx, "UPDATE chatkit_threads SET status = ? WHERE id = ?", status, tr.ID); err != nil {
					t.Fatal(err)
				}
				_, _, err := st.appendUserMessage(ctx, "ref", tr.ID, userMsg(tr.ID, "x"), nil, later, nil, open)
				var ae *apierror.Error
				if !errors.As(err, &ae) || ae.Status != 409 {
					t.Fatalf("status %s: %v", status, err)
				}
			}
			if seq, act := nextSeqOf(t, tr.ID); seq != seq0 || act != act0 {
				t.Fatalf("a refused message changed the thread: next_seq %d→%d, activity %d→%d", seq0, seq, act0, act)
			}
			if got := seqs(t, tr.ID); len(got) != 1 {
				t.Fatalf("a refused message was stored: %v", got)
			}
			// Active, though not stored the way this server writes it
			// (PostgreSQL: not the one-statement path).
			if _, err := db.Exec(ctx, "UPDATE chatkit_threads SET status = ? WHERE id = ?", `{ "type": "active" }`, tr.ID); err != nil {
				t.Fatal(err)
			}
			if _, seq, err := st.appendUserMessage(ctx, "ref", tr.ID, userMsg(tr.ID, "x"), nil, later, nil, open); err != nil || seq != seq0+1 {
				t.Fatalf("an active thread stored differently: %d, %v", seq, err)
			}
		})
	})
}

// retryableErr is an error pgconn.SafeToRetry accepts: nothing was sent.
type retryableErr struct{}

func (retryableErr) Error() string     { return "connection closed before the query was sent" }
func (retryableErr) SafeToRetry() bool { return true }

// TestPgRetry: a statement that failed before reaching the server runs
// again (at most 3 times in all), any other failure is returned at once.
func TestPgRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	calls := 0
	err := pgRetry(ctx, func() error {
		if calls++; calls < 3 {
			return retryableErr{}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retried %d times, %v", calls, err)
	}
	calls = 0
	if err := pgRetry(ctx, func() error { calls++; return retryableErr{} }); !errors.As(err, new(retryableErr)) || calls != 3 {
		t.Fatalf("gave up after %d calls: %v", calls, err)
	}
	calls = 0
	other := errors.New("unique violation")
	if err := pgRetry(ctx, func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("a statement the server saw ran %d times: %v", calls, err)
	}
}
