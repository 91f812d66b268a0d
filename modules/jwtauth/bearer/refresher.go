package bearer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Refresher is a JWKSCache with its periodic refresh running in the
// background, from the first use of its keys (so a config that is only
// validated does no I/O) until Destruct. bearer_jwt shares one per key
// source through a caddy.UsagePool, so reloads keep the keys and the
// refresher.
type Refresher struct {
	*JWKSCache
	once    sync.Once
	started atomic.Bool
	done    chan struct{}
}

// NewRefresher wraps c; its refresher starts on first use.
func NewRefresher(c *JWKSCache) *Refresher {
	return &Refresher{JWKSCache: c, done: make(chan struct{})}
}

// Current implements KeySource.
func (r *Refresher) Current(ctx context.Context) *KeySet {
	r.start()
	return r.JWKSCache.Current(ctx)
}

// RefreshUnknown implements KeySource.
func (r *Refresher) RefreshUnknown(ctx context.Context) *KeySet {
	r.start()
	return r.JWKSCache.RefreshUnknown(ctx)
}

// Stopped is closed when the background refresher has ended (it never
// starts before the first use).
func (r *Refresher) Stopped() <-chan struct{} { return r.done }

// Destruct stops the refresher and any running fetch (caddy.Destructor:
// called when no config uses the keys any more).
func (r *Refresher) Destruct() error {
	r.Close()
	r.once.Do(func() { close(r.done) }) // a loop that never started must not start now
	if r.started.Load() {
		select {
		case <-r.done:
		case <-time.After(fetchTimeout):
		}
	}
	return nil
}

func (r *Refresher) start() {
	r.once.Do(func() {
		r.started.Store(true)
		go r.loop()
	})
}

// loop refreshes when due until the cache is closed.
func (r *Refresher) loop() {
	defer close(r.done)
	c := r.JWKSCache
	for {
		c.mu.Lock()
		wait := c.nextDue.Sub(c.now())
		if c.nextDue.IsZero() {
			wait = c.cfg.MinPeriod // the first fetch is on its way
		}
		c.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue // re-check: a kid-triggered fetch may have moved nextDue
		}
		if c.ctx.Err() != nil {
			return
		}
		c.refresh(c.ctx, false)
	}
}
