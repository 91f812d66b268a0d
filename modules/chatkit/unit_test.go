package chatkit

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

func TestCapBytes(t *testing.T) {
	t.Parallel()
	if got := capBytes("héllo", 2); got != "h" {
		t.Fatalf("%q", got)
	}
	if got := capBytes("ok\xff", 10); got != "ok" {
		t.Fatalf("%q", got)
	}
}

// TestPaginationProperty: for random thread and item counts and limits,
// following `after` yields every element exactly once in order, and
// `after` is present iff has_more.
func TestPaginationProperty(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		st := &storage{db: db}
		rng := rand.New(rand.NewSource(7))
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var threads []string
		for i := 0; i < 13; i++ {
			// Several threads share a millisecond: ids break the tie.
			created := base.Add(time.Duration(i/3) * time.Millisecond)
			tr := &threadRow{ID: protocol.NewID("thr"), Owner: "u", CreatedAt: created.UnixMilli(), LastActivityAt: created.UnixMilli(),
				Status: protocol.Status{Type: "active"}}
			if err := st.createThread(ctx, tr, nil, nil, nil); err != nil {
				t.Fatal(err)
			}
			threads = append(threads, tr.ID)
		}
		other := &threadRow{ID: protocol.NewID("thr"), Owner: "someone-else", CreatedAt: base.UnixMilli(), LastActivityAt: base.UnixMilli()}
		if err := st.createThread(ctx, other, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		var items []string
		for i := 0; i < 23; i++ {
			var it protocol.Item = &protocol.AssistantMessageItem{ID: protocol.NewID("msg"), ThreadID: threads[0], CreatedAt: protocol.NewTime(base)}
			if i%5 == 4 {
				it = &protocol.SDKHiddenContextItem{ID: protocol.NewID("shcx"), ThreadID: threads[0], CreatedAt: protocol.NewTime(base)}
			} else {
				items = append(items, it.ItemID())
			}
			if err := st.addItem(ctx, threads[0], it, base, nil); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 20; round++ {
			limit := 1 + rng.Intn(15)
			desc := rng.Intn(2) == 0
			wantThreads := sortedThreads(threads, desc)
			var gotThreads []string
			after := ""
			for {
				rows, more, err := st.listThreads(ctx, "u", pageQuery{after: after, limit: limit, desc: desc})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					gotThreads = append(gotThreads, r.ID)
				}
				if !more {
					break
				}
				after = rows[len(rows)-1].ID
			}
			if strings.Join(gotThreads, ",") != strings.Join(wantThreads, ",") {
				t.Fatalf("threads limit %d desc %v:\n got %v\nwant %v", limit, desc, gotThreads, wantThreads)
			}
			want := append([]string(nil), items...)
			if desc {
				for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
					want[i], want[j] = want[j], want[i]
				}
			}
			var got []string
			after = ""
			for {
				_, ids, more, err := st.listItems(ctx, threads[0], pageQuery{after: after, limit: limit, desc: desc})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ids...)
				if !more {
					break
				}
				after = ids[len(ids)-1]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("items limit %d desc %v:\n got %v\nwant %v", limit, desc, got, want)
			}
		}
	})
}

// sortedThreads orders ids by (created_at, id) as the store does; thread i
// was created at millisecond i/3.
func sortedThreads(ids []string, desc bool) []string {
	idx := map[string]int{}
	for i, id := range ids {
		idx[id] = i / 3
	}
	out := append([]string(nil), ids...)
	sort.Slice(out, func(a, b int) bool {
		ca, cb := idx[out[a]], idx[out[b]]
		if ca != cb {
			return (ca < cb) != desc
		}
		return (out[a] < out[b]) != desc
	})
	return out
}
