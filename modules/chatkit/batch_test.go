package chatkit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

// TestBatchedWrites: writes waiting together share transactions; each
// still gets its own outcome (a refusal fails only its request), and every
// committed write is there, on SQLite and PostgreSQL.
func TestBatchedWrites(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// The batcher runs on SQLite only; here it runs on both, to keep
		// the mechanism correct whatever the database.
		st := &storage{db: db, batch: &batcher{db: db, timeout: 10 * time.Second, free: 1}}
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		refused := errors.New("refused")
		before := batches.Load()
		const n = 200
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &threadRow{ID: protocol.NewID("thr"), Owner: "u1", CreatedAt: now.UnixMilli(), LastActivityAt: now.UnixMilli(),
					Status: protocol.Status{Type: protocol.StatusActive}}
				ids[i] = tr.ID
				if errs[i] = st.createThread(ctx, tr, &protocol.UserMessageItem{ID: protocol.NewID("msg"), ThreadID: tr.ID}, nil, nil); errs[i] != nil {
					return
				}
				user := &protocol.UserMessageItem{ID: protocol.NewID("msg"), ThreadID: tr.ID}
				_, _, errs[i] = st.appendUserMessage(ctx, "u1", tr.ID, user, nil, now, nil, func(*threadRow) error {
					if i%10 == 0 {
						return refused
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			want := error(nil)
			if i%10 == 0 {
				want = refused
			}
			if !errors.Is(err, want) {
				t.Fatalf("write %d: %v, want %v", i, err, want)
			}
			items, err := st.recentItems(ctx, ids[i], 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 && len(items) != 1 || i%10 != 0 && len(items) != 2 {
				t.Fatalf("thread %d has %d items", i, len(items))
			}
		}
		t.Logf("%d shared transactions", batches.Load()-before)
	})
}
