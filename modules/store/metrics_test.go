package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

// poolValue returns the value of the one series of name with the given labels.
func poolValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// The pool collector reads the live pool at scrape time: connections in use
// and idle, the pool's size, and the time spent waiting for a connection.
// Labels name the dialect only, never the database.
func TestPoolCollector(t *testing.T) {
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(store.PoolCollector(db))
		d := string(db.Dialect())
		value := func(name string, labels ...string) float64 {
			l := map[string]string{"dialect": d}
			if len(labels) == 2 {
				l[labels[0]] = labels[1]
			}
			return poolValue(t, reg, name, l)
		}
		max := int(value("intellistack_db_pool_max_connections"))
		if max < 4 {
			t.Fatalf("max connections %d", max)
		}
		// Hold every connection of the pool.
		held := make([]*sql.Conn, 0, max)
		for range max {
			c, err := db.SQL().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		if got := value("intellistack_db_pool_connections", "state", "in_use"); got != float64(max) {
			t.Fatalf("in_use = %v with %d held", got, max)
		}
		if got := value("intellistack_db_pool_connections", "state", "idle"); got != 0 {
			t.Fatalf("idle = %v with every connection held", got)
		}
		// On SQLite one more request waits until a connection comes back
		// (database/sql counts the waiter when it starts waiting). On
		// PostgreSQL the pool already counted a wait: acquires that found it
		// empty waited for the new connections it opened.
		waited := make(chan error, 1)
		if db.Dialect() == store.SQLite {
			go func() {
				c, err := db.SQL().Conn(ctx)
				if err == nil {
					err = c.Close()
				}
				waited <- err
			}()
			for deadline := time.Now().Add(10 * time.Second); db.SQL().Stats().WaitCount == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the extra request never waited")
				}
				time.Sleep(time.Millisecond)
			}
		} else {
			waited <- nil
		}
		for _, c := range held {
			c.Close()
		}
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if got := value("intellistack_db_pool_connections", "state", "in_use"); got != 0 {
			t.Fatalf("in_use = %v after release", got)
		}
		if got := value("intellistack_db_pool_connections", "state", "idle"); got != float64(max) {
			t.Fatalf("idle = %v after release, want %d", got, max)
		}
		if got := value("intellistack_db_pool_wait_seconds_total"); got <= 0 {
			t.Fatalf("wait = %v, want > 0", got)
		}
		// No DSN, host or schema in any label: the values are the dialect
		// and the state.
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if v := l.GetValue(); v != d && v != "in_use" && v != "idle" {
						t.Fatalf("%s has label %s=%q", mf.GetName(), l.GetName(), v)
					}
				}
			}
		}
		if problems, err := promtest.GatherAndLint(reg); err != nil || len(problems) > 0 {
			t.Fatalf("lint: %v %v", problems, err)
		}
	})
}
