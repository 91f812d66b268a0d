package store_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

type sharedKeyA struct{}
type sharedKeyB struct{}

// Shared makes a key's value once per handle, however many callers ask at
// once, and keeps keys apart.
func TestShared(t *testing.T) {
	db := testutil.OpenDatabase(t, "sqlite")
	var made atomic.Int64
	newValue := func() any { made.Add(1); return new(int) }
	var wg sync.WaitGroup
	got := make([]any, 16)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = db.Shared(sharedKeyA{}, newValue) }()
	}
	wg.Wait()
	for _, v := range got[1:] {
		if v != got[0] {
			t.Fatal("two callers got two values for one key")
		}
	}
	if b := db.Shared(sharedKeyB{}, newValue); b == got[0] {
		t.Fatal("two keys share a value")
	}
	if again := db.Shared(sharedKeyA{}, func() any { t.Fatal("made again"); return nil }); again != got[0] {
		t.Fatal("the value changed")
	}
	if other := testutil.OpenDatabase(t, "sqlite").Shared(sharedKeyA{}, newValue); other == got[0] {
		t.Fatal("two handles share a value")
	}
	if n := made.Load(); n < 3 {
		t.Fatalf("made %d values", n)
	}
}
