package bearer

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// TokenCache remembers verified tokens so the signature check is paid once
// per token, not once per request. Keys are SHA-256 digests (the cache
// never holds a token); an entry never outlives the token's exp, nor the
// JWKS refresh interval, so a key withdrawn by the issuer stops working in
// the cache about when it stops working for fresh verification. It is
// bounded: when full, expired entries go first, then arbitrary ones.
type TokenCache[V any] struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v     V
	until time.Time
}

// NewTokenCache makes a cache of at most size entries; nil (no caching)
// when size is not positive.
func NewTokenCache[V any](size int) *TokenCache[V] {
	if size <= 0 {
		return nil
	}
	return &TokenCache[V]{max: size, entries: make(map[[sha256.Size]byte]cacheEntry[V])}
}

// Key is the cache key of a token. The token's bytes are hashed in place
// (no copy per request): Sum256 neither keeps nor changes them.
func Key(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// Get returns the value cached for key, unless it is absent or over at now.
func (c *TokenCache[V]) Get(key [sha256.Size]byte, now time.Time) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return zero, false
	}
	return e.v, true
}

// Put remembers v for key until until (nothing when until is not after now).
func (c *TokenCache[V]) Put(key [sha256.Size]byte, v V, until, now time.Time) {
	if c == nil || !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		// Still full: drop an eighth, in map order (effectively random), so
		// the sweep above is paid once per max/8 inserts, not on each.
		for k := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry[V]{v: v, until: until}
}

// Len is the number of entries.
func (c *TokenCache[V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
