package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// DBSource hands out the shared database; *store.App is one (its DB waits
// until the database is open and migrated).
type DBSource interface {
	DB(ctx context.Context) (*store.DB, error)
}

// StaticDB is a DBSource for a handle opened outside Caddy (tools, tests).
type StaticDB struct{ Handle *store.DB }

// DB implements DBSource.
func (s StaticDB) DB(context.Context) (*store.DB, error) { return s.Handle, nil }

// DatabaseLimiter is a Limiter on the shared database: correct across any
// number of Caddy nodes on one PostgreSQL database, and on SQLite for one
// node. Each call is one transaction that locks the key, prunes its expired
// events, reads the newest ones, decides and records: on PostgreSQL a single
// call of ratelimit_apply (one round trip) holding an advisory lock for the
// key; on SQLite a BEGIN IMMEDIATE transaction, which takes the write lock
// at once.
type DatabaseLimiter struct {
	cfg     Config
	src     DBSource
	span    span
	windows []int64 // milliseconds, pairwise with counts
	counts  []int32
}

// NewDatabaseLimiter returns a limiter that keeps its events in the shared
// database. It does no I/O.
func NewDatabaseLimiter(src DBSource, cfg Config) (*DatabaseLimiter, error) {
	if src == nil {
		return nil, errors.New("ratelimit: no database")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &DatabaseLimiter{cfg: cfg, src: src, span: spanOf(cfg.Limits)}
	for _, lim := range cfg.Limits {
		l.windows = append(l.windows, lim.Window.Milliseconds())
		l.counts = append(l.counts, int32(lim.Count))
	}
	return l, nil
}

// Allow implements Limiter.
func (l *DatabaseLimiter) Allow(ctx context.Context, key string) (Decision, error) {
	return l.run(ctx, opAllow, key)
}

// Check implements Limiter.
func (l *DatabaseLimiter) Check(ctx context.Context, key string) (Decision, error) {
	return l.run(ctx, opCheck, key)
}

// Record implements Limiter.
func (l *DatabaseLimiter) Record(ctx context.Context, key string) (Decision, error) {
	return l.run(ctx, opRecord, key)
}

// Reset implements Limiter.
func (l *DatabaseLimiter) Reset(ctx context.Context, key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	db, err := l.src.DB(ctx)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, "DELETE FROM ratelimit_events WHERE zone = ? AND key = ?", l.cfg.Zone, hashKey(key).String())
	return err
}

func (l *DatabaseLimiter) run(ctx context.Context, o op, key string) (Decision, error) {
	if key == "" {
		return Decision{}, ErrEmptyKey
	}
	db, err := l.src.DB(ctx)
	if err != nil {
		return Decision{}, err
	}
	k := hashKey(key)
	now := l.cfg.Now().UnixMilli()
	var pre []int64
	var recorded bool
	if db.Dialect() == store.Postgres && db.Pool() != nil {
		pre, recorded, err = l.applyPostgres(ctx, db, o, k, now)
	} else {
		pre, recorded, err = l.applySQL(ctx, db, o, k, now)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: zone %s: %w", l.cfg.Zone, err)
	}
	return decide(o, pre, recorded, now, l.cfg.Limits), nil
}

func (l *DatabaseLimiter) applyPostgres(ctx context.Context, db *store.DB, o op, k keyID, now int64) ([]int64, bool, error) {
	var recorded bool
	var events []int64
	// set_config(…, true) lasts until this statement's implicit transaction
	// commits: the commit does not wait for the WAL flush. Atomicity and
	// visibility to other nodes are unchanged (the lock is released after the
	// commit either way); what a database crash can lose is the last fraction
	// of a second of events, a few extra admissions at worst, which is a fair
	// price for not paying a disk flush on every request.
	err := db.Pool().QueryRow(ctx,
		"SELECT r.recorded, r.events, set_config('synchronous_commit', 'off', true) FROM ratelimit_apply($1, $2, $3, $4, $5, $6, $7) AS r",
		l.cfg.Zone, k.String(), lockID(l.cfg.Zone, k), now, l.windows, l.counts, string(o),
	).Scan(&recorded, &events, nil)
	return events, recorded, err
}

// applySQL is the same algorithm as ratelimit_apply, in Go, inside one
// transaction. On SQLite the transaction holds the write lock from its first
// statement, so it is serialized with every other writer.
func (l *DatabaseLimiter) applySQL(ctx context.Context, db *store.DB, o op, k keyID, now int64) (pre []int64, recorded bool, err error) {
	zone, key := l.cfg.Zone, k.String()
	err = db.InTx(ctx, func(tx *store.Tx) error {
		pre, recorded = nil, false
		if _, err := tx.Exec(ctx, "DELETE FROM ratelimit_events WHERE zone = ? AND key = ? AND at <= ?",
			zone, key, now-l.span.window.Milliseconds()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT at FROM ratelimit_events WHERE zone = ? AND key = ? ORDER BY at DESC LIMIT ?",
			zone, key, l.span.count)
		if err != nil {
			return err
		}
		pre, err = scanInt64s(rows)
		if err != nil {
			return err
		}
		recorded = o == opRecord || (o == opAllow && admits(pre, now, l.cfg.Limits))
		if !recorded {
			return nil
		}
		if _, err := tx.Exec(ctx, "INSERT INTO ratelimit_events (zone, key, at) VALUES (?, ?, ?)", zone, key, now); err != nil {
			return err
		}
		if len(pre) >= l.span.count {
			// Only the newest count events can matter (see ratelimit_apply).
			keep := now
			if l.span.count > 1 {
				keep = min(pre[l.span.count-2], now)
			}
			_, err = tx.Exec(ctx, "DELETE FROM ratelimit_events WHERE zone = ? AND key = ? AND at < ?", zone, key, keep)
		}
		return err
	})
	return pre, recorded, err
}

func scanInt64s(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// sweepBatch bounds one delete of the sweeper, so it never holds locks on a
// large part of the table.
const sweepBatch = 1000

// Sweep deletes up to limit events of the zone that no window can see any
// more, in batches, and returns how many it deleted. Checks already prune
// the keys they touch; this catches keys that are never seen again.
func (l *DatabaseLimiter) Sweep(ctx context.Context, limit int) (int64, error) {
	db, err := l.src.DB(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := l.cfg.Now().UnixMilli() - l.span.window.Milliseconds()
	// The subquery walks the (zone, at) index; the row identity differs.
	q := "DELETE FROM ratelimit_events WHERE rowid IN (SELECT rowid FROM ratelimit_events WHERE zone = ? AND at <= ? LIMIT ?)"
	if db.Dialect() == store.Postgres {
		q = "DELETE FROM ratelimit_events WHERE ctid = ANY (ARRAY(SELECT ctid FROM ratelimit_events WHERE zone = ? AND at <= ? LIMIT ?))"
	}
	var total int64
	for total < int64(limit) {
		res, err := db.Exec(ctx, q, l.cfg.Zone, cutoff, min(sweepBatch, int64(limit)-total))
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n == 0 {
			break
		}
	}
	return total, nil
}

// SweepEvery runs Sweep every interval until ctx ends (pass a Caddy module's
// context: it ends at the next reload, when the new generation takes over).
// Errors are passed to onError, which may be nil.
func (l *DatabaseLimiter) SweepEvery(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Bounded per run: a large backlog drains over a few runs.
			if _, err := l.Sweep(ctx, 20*sweepBatch); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}

var _ Limiter = (*DatabaseLimiter)(nil)
