package jwtauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers verified tokens so the signature check is paid once
// per token, not once per request. Keys are SHA-256 digests (the cache
// never holds a token); an entry never outlives the token's exp, nor the
// JWKS refresh interval, so a key withdrawn by the issuer stops working in
// the cache about when it stops working for fresh verification. It is
// bounded: when full, expired entries go first, then arbitrary ones.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	v     *verdict
	until time.Time
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{max: size, entries: make(map[[sha256.Size]byte]cacheEntry)}
}

func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) *verdict {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.v
}

func (c *tokenCache) put(key [sha256.Size]byte, v *verdict, until, now time.Time) {
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
	c.entries[key] = cacheEntry{v: v, until: until}
}

func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
