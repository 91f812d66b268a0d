package chatkit

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Group commit on SQLite. A burst of turns (a class opening the chat at
// once) would otherwise queue one transaction, and one commit, per thread
// created and per turn finished behind the file's single writer. The
// batcher runs the writes that are waiting when the writer becomes free in
// one transaction, so a burst costs one commit per batch. Alone, a write
// runs at once in a transaction of its own, as before.

// maxBatch bounds the writes of one transaction (bounded work per commit).
const maxBatch = 64

// batchWrite is one write: fn runs inside the batch's transaction; any
// error it returns (a database failure, or a refusal such as a locked
// thread) rolls the batch back, and then every write of the batch runs
// again alone, so each request gets its own outcome. fn may therefore run
// twice, and resets its results first.
type batchWrite struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *store.Tx) error
	done chan error
}

// batcher queues writes to one database; runners take what is waiting.
type batcher struct {
	db      *store.DB
	timeout time.Duration

	mu    sync.Mutex
	queue []*batchWrite
	free  int // runners not running
}

// newBatcher returns the batcher of an SQLite database, and nil (no
// batching) for PostgreSQL. SQLite has one writer per file, so a burst
// queues there anyway and one runner loses nothing. On PostgreSQL writes run
// side by side on the pool, and batches would not: two batches that upsert
// the usage rows of the same users in different orders wait on each other's
// row locks, or deadlock (measured: bench/chatkit -streams 1000 timed out).
func newBatcher(db *store.DB, timeout time.Duration) *batcher {
	if db.Dialect() != store.SQLite {
		return nil
	}
	return &batcher{db: db, timeout: timeout, free: 1}
}

// do runs fn in a transaction, possibly shared with other writes, and
// returns once it is committed (or failed).
func (b *batcher) do(ctx context.Context, fn func(ctx context.Context, tx *store.Tx) error) error {
	w := &batchWrite{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	start := b.free > 0
	if start {
		b.free--
	}
	b.mu.Unlock()
	if start {
		// The caller runs the batches itself until its own write is done
		// (alone, its transaction runs at once on its goroutine: no
		// goroutine started and no hand-off to wait for, two per turn);
		// writes queued meanwhile go on in a goroutine of their own.
		b.run(w)
	}
	return <-w.done
}

// run commits batches until the queue is empty, or, when own is not nil,
// until the batch holding own is committed; then a runner goroutine takes
// what is left.
func (b *batcher) run(own *batchWrite) {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.free++
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), maxBatch)
		batch := make([]*batchWrite, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.commit(batch)
		if own != nil && slices.Contains(batch, own) {
			b.mu.Lock()
			if len(b.queue) == 0 {
				b.free++
				b.mu.Unlock()
				return
			}
			b.mu.Unlock()
			go b.run(nil)
			return
		}
	}
}

// commit runs a batch in one transaction; if it fails, each write runs
// alone so that one failure fails only its own request.
func (b *batcher) commit(batch []*batchWrite) {
	live := batch[:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.done <- err // gone while queued: nothing was written
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		err := b.db.InTx(ctx, func(tx *store.Tx) error {
			for _, w := range live {
				if err := w.fn(ctx, tx); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		batches.Add(1)
		if err == nil {
			for _, w := range live {
				w.done <- nil
			}
			return
		}
	}
	for _, w := range live {
		w.done <- b.db.InTx(w.ctx, func(tx *store.Tx) error { return w.fn(w.ctx, tx) })
	}
}

// batches counts shared transactions, for tests.
var batches atomic.Int64
