package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// handles holds one database handle per database target, shared by every
// config generation: a reload provisions the new app (which takes a reference
// to the existing handle) before the old app is cleaned up (which drops its
// reference), so the handle is never reopened and closes only when the last
// generation lets go.
var handles = caddy.NewUsagePool()

// handle is the pooled, lazily opened database. Creating one does no I/O, so
// `caddy validate` and a Provision that later fails cost nothing.
type handle struct {
	target target

	mu     sync.Mutex
	db     *DB
	ready  chan struct{} // closed once db is open and migrated
	closed bool
}

func newHandle(t target) *handle {
	return &handle{target: t, ready: make(chan struct{})}
}

// handleKey identifies a database without putting its secret in a map key
// that could end up in a debug dump.
func handleKey(t target) string {
	sum := sha256.Sum256([]byte(string(t.dialect) + "\x00" + t.dsn))
	return "intellistack.db." + hex.EncodeToString(sum[:])
}

// open connects and migrates unless that already happened. A failed attempt
// leaves the handle closed-for-business but retryable, so a later reload with
// the database back up succeeds.
func (h *handle) open(ctx context.Context, migrate func(context.Context, *DB) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("database handle already closed")
	}
	if h.db != nil {
		return nil
	}
	db, err := openDatabase(ctx, h.target)
	if err != nil {
		return err
	}
	if err := migrate(ctx, db); err != nil {
		db.close()
		return err
	}
	h.db = db
	trackOpen(db)
	close(h.ready)
	return nil
}

// wait blocks until the handle is ready or ctx ends.
func (h *handle) wait(ctx context.Context) (*DB, error) {
	select {
	case <-h.ready:
		return h.db, nil
	case <-ctx.Done():
		return nil, ErrNotReady
	}
}

// Destruct implements caddy.Destructor: the last user is gone.
func (h *handle) Destruct() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.db == nil {
		return nil
	}
	untrack(h.db)
	return h.db.close()
}

// ErrNotReady is returned to a handler that gave up waiting for the database
// to be opened and migrated.
var ErrNotReady = errors.New("database is not ready")

var _ caddy.Destructor = (*handle)(nil)
