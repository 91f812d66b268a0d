package ratelimit

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// memoryShards spreads keys over independently locked maps so that checks
// for different keys rarely wait for each other.
const memoryShards = 32

// memoryStore holds the event logs of one zone in this process. A log is
// newest first and never longer than the largest count of the limits that
// use it, so a key costs at most a few hundred bytes.
type memoryStore struct {
	shards [memoryShards]memoryShard

	mu        sync.Mutex
	retention time.Duration // longest window of the limiters using the store
	now       func() time.Time
	stop      chan struct{}
	stopOnce  sync.Once
}

type memoryShard struct {
	mu   sync.Mutex
	logs map[keyID][]int64
}

func newMemoryStore(now func() time.Time) *memoryStore {
	s := &memoryStore{now: now, stop: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].logs = make(map[keyID][]int64)
	}
	return s
}

func (s *memoryStore) shard(k keyID) *memoryShard {
	return &s.shards[binary.BigEndian.Uint32(k[:4])%memoryShards]
}

// apply runs op for one key under its shard's lock, which is what makes the
// check and the record one step.
func (s *memoryStore) apply(o op, k keyID, now int64, limits []Limit) Decision {
	sp := spanOf(limits)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	events := sh.logs[k]
	// Drop what no window can see any more.
	cutoff := now - sp.window.Milliseconds()
	events = events[:countSince(events, cutoff)]
	recorded := o == opRecord || (o == opAllow && admits(events, now, limits))
	d := decide(o, events, recorded, now, limits)
	if recorded {
		if len(events) < sp.count {
			events = append(events, 0)
		}
		copy(events[1:], events)
		events[0] = now
	}
	if len(events) == 0 {
		delete(sh.logs, k)
	} else {
		sh.logs[k] = events
	}
	return d
}

func (s *memoryStore) reset(k keyID) {
	sh := s.shard(k)
	sh.mu.Lock()
	delete(sh.logs, k)
	sh.mu.Unlock()
}

// noteRetention tells the sweeper how long events can matter.
func (s *memoryStore) noteRetention(d time.Duration) {
	s.mu.Lock()
	s.retention = max(s.retention, d)
	s.mu.Unlock()
}

// sweep forgets keys whose newest event has left the longest window, so keys
// that are never seen again do not stay in memory.
func (s *memoryStore) sweep() int {
	s.mu.Lock()
	retention := s.retention
	s.mu.Unlock()
	if retention <= 0 {
		return 0
	}
	cutoff := s.now().UnixMilli() - retention.Milliseconds()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, events := range sh.logs {
			if len(events) == 0 || events[0] <= cutoff {
				delete(sh.logs, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

func (s *memoryStore) sweepLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// Destruct implements caddy.Destructor: the last config using the zone is
// gone.
func (s *memoryStore) Destruct() error {
	s.stopOnce.Do(func() { close(s.stop) })
	return nil
}

// memoryStores keeps each zone's store across config reloads: a reload
// provisions the new handler (taking a reference) before the old one is
// cleaned up (dropping its reference), so counters carry over.
var memoryStores = caddy.NewUsagePool()

// memorySweepEvery is how often a memory store forgets idle keys.
const memorySweepEvery = time.Minute

// MemoryLimiter is a Limiter for one node: exact and fast, but each Caddy
// process counts on its own.
type MemoryLimiter struct {
	cfg   Config
	store *memoryStore
}

// NewMemoryLimiter returns a limiter with a store of its own, not shared and
// not kept across reloads; stop its sweeper with Close.
func NewMemoryLimiter(cfg Config) (*MemoryLimiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := newMemoryStore(cfg.Now)
	s.noteRetention(spanOf(cfg.Limits).window)
	go s.sweepLoop(memorySweepEvery)
	return &MemoryLimiter{cfg: cfg, store: s}, nil
}

// AcquireMemoryLimiter returns a limiter on the process-wide store of
// cfg.Zone, shared with every other limiter of that zone and kept across
// config reloads for as long as one holder remains. Call release (from
// Cleanup) when done. Limiters sharing a zone should have the same longest
// window: the shorter one would forget events the longer one still counts.
func AcquireMemoryLimiter(cfg Config) (l *MemoryLimiter, release func(), err error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	poolKey := "intellistack.ratelimit.memory." + cfg.Zone
	v, _, err := memoryStores.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		s := newMemoryStore(cfg.Now)
		go s.sweepLoop(memorySweepEvery)
		return s, nil
	})
	if err != nil {
		return nil, nil, err
	}
	s := v.(*memoryStore)
	s.noteRetention(spanOf(cfg.Limits).window)
	var once sync.Once
	release = func() { once.Do(func() { _, _ = memoryStores.Delete(poolKey) }) }
	return &MemoryLimiter{cfg: cfg, store: s}, release, nil
}

// Close stops the sweeper of a limiter made by NewMemoryLimiter.
func (l *MemoryLimiter) Close() error { return l.store.Destruct() }

func (l *MemoryLimiter) run(o op, key string) (Decision, error) {
	if key == "" {
		return Decision{}, ErrEmptyKey
	}
	return l.store.apply(o, hashKey(l.cfg.Zone+"\x00"+key), l.cfg.Now().UnixMilli(), l.cfg.Limits), nil
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string) (Decision, error) {
	return l.run(opAllow, key)
}

// Check implements Limiter.
func (l *MemoryLimiter) Check(_ context.Context, key string) (Decision, error) {
	return l.run(opCheck, key)
}

// Record implements Limiter.
func (l *MemoryLimiter) Record(_ context.Context, key string) (Decision, error) {
	return l.run(opRecord, key)
}

// Reset implements Limiter.
func (l *MemoryLimiter) Reset(_ context.Context, key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	l.store.reset(hashKey(l.cfg.Zone + "\x00" + key))
	return nil
}

var (
	_ Limiter          = (*MemoryLimiter)(nil)
	_ caddy.Destructor = (*memoryStore)(nil)
)
