package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// forEachStore runs body on a memory limiter and on database limiters over
// SQLite and PostgreSQL: the same behaviour is required of all three.
//
// Each subtest owns its store (a fresh database, or a limiter of its own),
// so they run in parallel.
func forEachStore(t *testing.T, body func(t *testing.T, newLimiter func(cfg Config) Limiter)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		body(t, func(cfg Config) Limiter {
			l, err := NewMemoryLimiter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		})
	})
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		body(t, func(cfg Config) Limiter {
			l, err := NewDatabaseLimiter(StaticDB{db}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return l
		})
	})
}

func mustAllow(t *testing.T, l Limiter, key string) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The 21st message in 24 h is refused; the first one after the window frees
// up is admitted.
func TestTwentyPerDay(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newLimiter func(Config) Limiter) {
		clock := newFakeClock()
		l := newLimiter(Config{Zone: "tutor", Limits: []Limit{{20, 24 * time.Hour}}, Now: clock.Now})
		start := clock.Now()
		for i := 1; i <= 20; i++ {
			d := mustAllow(t, l, "student-1")
			if !d.Allowed || d.Remaining != 20-i {
				t.Fatalf("message %d: %+v", i, d)
			}
			clock.Advance(time.Minute)
		}
		clock.Advance(time.Hour)
		d := mustAllow(t, l, "student-1")
		if d.Allowed || d.Remaining != 0 {
			t.Fatalf("21st message admitted: %+v", d)
		}
		if want := start.Add(24 * time.Hour); !d.RetryAt().Equal(want) {
			t.Fatalf("retry at %v, want %v", d.RetryAt(), want)
		}
		// Another student is not affected.
		if d := mustAllow(t, l, "student-2"); !d.Allowed || d.Remaining != 19 {
			t.Fatalf("other key: %+v", d)
		}
		// One millisecond before the first message leaves the window: still
		// refused; at the exact moment: admitted, and only one frees up.
		clock.ns.Store(start.Add(24*time.Hour - time.Millisecond).UnixNano())
		if d := mustAllow(t, l, "student-1"); d.Allowed {
			t.Fatalf("admitted before the window freed up: %+v", d)
		}
		clock.ns.Store(start.Add(24 * time.Hour).UnixNano())
		if d := mustAllow(t, l, "student-1"); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("first after the window: %+v", d)
		}
		if d := mustAllow(t, l, "student-1"); d.Allowed || d.RetryAfter != time.Minute {
			t.Fatalf("second after the window: %+v", d)
		}
	})
}

func TestCheckRecordReset(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newLimiter func(Config) Limiter) {
		ctx := context.Background()
		clock := newFakeClock()
		// A lockout: 3 failures in 30 minutes.
		l := newLimiter(Config{Zone: "oidc.sign_in.account", Limits: []Limit{{3, 30 * time.Minute}}, Now: clock.Now})
		for i := 0; i < 5; i++ {
			d, err := l.Check(ctx, "a@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (i < 3) {
				t.Fatalf("check %d: %+v", i, d)
			}
			d, err = l.Record(ctx, "a@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (i < 2) || d.Remaining != max(0, 2-i) {
				t.Fatalf("record %d: %+v", i, d)
			}
			clock.Advance(time.Second)
		}
		// Recording past the limit keeps the lockout running from the newest
		// failures.
		d, _ := l.Check(ctx, "a@example.com")
		if d.Allowed || d.RetryAfter != 30*time.Minute-3*time.Second {
			t.Fatalf("after 5 failures: %+v", d)
		}
		if err := l.Reset(ctx, "a@example.com"); err != nil {
			t.Fatal(err)
		}
		if d, _ := l.Check(ctx, "a@example.com"); !d.Allowed || d.Remaining != 3 {
			t.Fatalf("after reset: %+v", d)
		}
		if _, err := l.Allow(ctx, ""); !errors.Is(err, ErrEmptyKey) {
			t.Fatalf("empty key: %v", err)
		}
	})
}

func TestSeveralLimits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, newLimiter func(Config) Limiter) {
		clock := newFakeClock()
		l := newLimiter(Config{Zone: "burst", Limits: []Limit{{5, time.Hour}, {2, time.Minute}}, Now: clock.Now})
		admitted := 0
		for i := 0; i < 40; i++ {
			if mustAllow(t, l, "k").Allowed {
				admitted++
			}
			clock.Advance(10 * time.Second)
		}
		// 400 s: 2 per minute would allow 14, the hour caps it at 5.
		if admitted != 5 {
			t.Fatalf("admitted %d, want 5", admitted)
		}
	})
}

// Zones keep counters apart on one store.
func TestZonesAreSeparate(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		clock := newFakeClock()
		mk := func(zone string) Limiter {
			l, err := NewDatabaseLimiter(StaticDB{db}, Config{Zone: zone, Limits: []Limit{{1, time.Hour}}, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		a, b := mk("a"), mk("b")
		if !mustAllow(t, a, "k").Allowed || !mustAllow(t, b, "k").Allowed || mustAllow(t, a, "k").Allowed {
			t.Fatal("zones share counters")
		}
	})
}

// Under any concurrency a limit of 20 admits exactly 20; on PostgreSQL also
// through two separate connection pools (two nodes).
func TestConcurrentExactlyN(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, limiters []Limiter) {
		var admitted atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func(l Limiter) {
				defer wg.Done()
				d, err := l.Allow(context.Background(), "student")
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}(limiters[i%len(limiters)])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := admitted.Load(); n != 20 {
			t.Fatalf("admitted %d of 200, want exactly 20", n)
		}
	}
	cfg := Config{Zone: "tutor", Limits: []Limit{{20, 24 * time.Hour}}}
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		l, _ := NewMemoryLimiter(cfg)
		defer l.Close()
		run(t, []Limiter{l})
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		l, _ := NewDatabaseLimiter(StaticDB{testutil.OpenDatabase(t, "sqlite")}, cfg)
		run(t, []Limiter{l})
	})
	t.Run("postgres-two-pools", func(t *testing.T) {
		t.Parallel()
		url := testutil.PostgresURL(t)
		var ls []Limiter
		for i := 0; i < 2; i++ {
			db, err := store.Open(context.Background(), url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := store.Migrate(context.Background(), db); err != nil {
				t.Fatal(err)
			}
			l, _ := NewDatabaseLimiter(StaticDB{db}, cfg)
			ls = append(ls, l)
		}
		run(t, ls)
	})
}

// The database keeps a digest of the key, at most Count rows per key, and
// the sweeper deletes only what no window sees.
func TestDatabaseRowsBoundedAndSwept(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		clock := newFakeClock()
		l, _ := NewDatabaseLimiter(StaticDB{db}, Config{Zone: "z", Limits: []Limit{{3, time.Hour}}, Now: clock.Now})
		for i := 0; i < 10; i++ {
			if _, err := l.Record(ctx, "203.0.113.7"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Millisecond)
		}
		mustAllow(t, l, "old@example.com")
		count := func(q string, args ...any) int {
			var n int
			if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("SELECT COUNT(*) FROM ratelimit_events WHERE key = ?", hashKey("203.0.113.7").String()); n != 3 {
			t.Fatalf("rows for a key recorded 10 times: %d, want 3", n)
		}
		if n := count("SELECT COUNT(*) FROM ratelimit_events WHERE key LIKE '%203%' OR key LIKE '%@%'"); n != 0 {
			t.Fatal("raw keys stored")
		}
		clock.Advance(30 * time.Minute)
		mustAllow(t, l, "new@example.com")
		clock.Advance(31 * time.Minute)
		n, err := l.Sweep(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Fatalf("swept %d rows, want 4 (the expired ones)", n)
		}
		if n := count("SELECT COUNT(*) FROM ratelimit_events"); n != 1 {
			t.Fatalf("%d rows left, want 1", n)
		}
	})
}

func TestMemorySweepForgetsIdleKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l, _ := NewMemoryLimiter(Config{Zone: "z", Limits: []Limit{{2, time.Minute}}, Now: clock.Now})
	defer l.Close()
	mustAllow(t, l, "a")
	clock.Advance(30 * time.Second)
	mustAllow(t, l, "b")
	clock.Advance(31 * time.Second)
	if n := l.store.sweep(); n != 1 {
		t.Fatalf("swept %d keys, want 1", n)
	}
}

// Limiters of one zone acquired through the pool share a store that lives
// while a holder remains (this is how counters survive a reload).
func TestAcquireMemorySharesAcrossHolders(t *testing.T) {
	t.Parallel()
	cfg := Config{Zone: "test.acquire", Limits: []Limit{{1, time.Hour}}}
	a, releaseA, err := AcquireMemoryLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAllow(t, a, "k")
	b, releaseB, _ := AcquireMemoryLimiter(cfg)
	releaseA()
	if mustAllow(t, b, "k").Allowed {
		t.Fatal("second holder does not see the first one's events")
	}
	releaseB()
	c, releaseC, _ := AcquireMemoryLimiter(cfg)
	defer releaseC()
	if !mustAllow(t, c, "k").Allowed {
		t.Fatal("store outlived its last holder")
	}
}
