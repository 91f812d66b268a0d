package store

import (
	"context"
	"database/sql"
	"time"
)

// checkpointEvery is how often the WAL is checkpointed while the database
// is open. A second of writes is at most a few thousand pages even under a
// full load (bench.py's 1,000 turns/s), the size SQLite's own automatic
// checkpoint used to wait for (wal_autocheckpoint(4000)).
const checkpointEvery = time.Second

// walCheckpointer copies the WAL back into the database file from a
// goroutine of its own, with PRAGMA wal_checkpoint(PASSIVE) on a pooled
// connection, instead of letting SQLite do it inside the commit that
// crosses wal_autocheckpoint: that commit, and every write queued behind it
// in the writer's gate, waited for the copy and its fsync (issue 16: the
// 16 turns in flight at once stalled together, and threads.create's p99 at
// c=16 was 74–101 ms with it against 35–46 ms without). A passive
// checkpoint takes no lock that a writer needs, so commits go on meanwhile;
// once it has copied every frame, the next write starts the WAL over, which
// keeps the file's size bounded as before.
type walCheckpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(db *sql.DB, every time.Duration) *walCheckpointer {
	c := &walCheckpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(every)
	return c
}

func (c *walCheckpointer) run(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// A failure (an I/O error) leaves the frames in the WAL, where
			// reads still find them; the next tick tries again, and closing
			// the last connection checkpoints too.
			_ = c.checkpoint()
		}
	}
}

// checkpoint copies what it can without waiting for readers or the writer.
func (c *walCheckpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}

// close stops the goroutine; the database is still open.
func (c *walCheckpointer) close() {
	close(c.stop)
	<-c.done
}
