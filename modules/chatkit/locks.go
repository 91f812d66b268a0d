package chatkit

import (
	"context"
	"sync"
)

// threadLocks serializes turns on one thread within this process, so two
// messages sent at once do not interleave their items. (Across nodes the
// sequence numbers still keep the order consistent.)
type threadLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

func newThreadLocks() *threadLocks { return &threadLocks{locks: map[string]chan struct{}{}} }

// lock waits for the thread's turn or for ctx to end.
func (l *threadLocks) lock(ctx context.Context, id string) (func(), error) {
	for {
		l.mu.Lock()
		ch, busy := l.locks[id]
		if !busy {
			ch = make(chan struct{})
			l.locks[id] = ch
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.locks, id)
				l.mu.Unlock()
				close(ch)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
