package jwtauth

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

// keyCache is a bearer.KeySource that can also say when to retry (for a
// 503's Retry-After).
type keyCache interface {
	bearer.KeySource
	RetryAfter() int
}

// keySource is where one provider's keys come from, decided on the first
// request that needs keys:
//
//   - with jwks_url: the shared cache of that URL;
//   - with only issuer, served in-process by an oidc_provider of this
//     config: a cache of the provider's keys, owned by this provider, with
//     the provider's client ids and revocations;
//   - otherwise: the shared cache of the issuer's discovery document.
//
// The choice waits for a request because Caddy provisions modules in no
// defined order: the oidc_provider may be provisioned after this provider.
type keySource struct {
	remote     *bearer.Refresher    // pooled; nil without a key source
	issuers    *bearer.LocalIssuers // this config's in-process issuers
	mayBeLocal bool                 // issuer without jwks_url
	cfg        bearer.JWKSConfig    // for a local cache
	logger     *zap.Logger

	once      sync.Once
	keys      keyCache
	clientIDs []string
	revoked   bearer.RevokedFunc // the in-process issuer's revocations; nil otherwise

	mu     sync.Mutex
	closed bool
	local  *bearer.Refresher // owned: stopped by close
}

func (s *keySource) resolve() keyCache {
	s.once.Do(func() {
		s.keys = s.remote
		if !s.mayBeLocal {
			return
		}
		li, ok := s.issuers.Lookup(s.cfg.Issuer)
		if !ok {
			return
		}
		cfg := s.cfg
		cfg.Local = li.JWKS
		cache := bearer.NewJWKSCache(cfg, s.logger)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			s.keys = cache // a late request of a config being unloaded: no refresher to leak
		} else {
			s.local = bearer.NewRefresher(cache)
			s.keys = s.local
		}
		s.clientIDs = li.ClientIDs
		s.revoked = li.Revoked
	})
	return s.keys
}

// Current implements bearer.KeySource.
func (s *keySource) Current(ctx context.Context) *bearer.KeySet {
	return s.resolve().Current(ctx)
}

// RefreshUnknown implements bearer.KeySource.
func (s *keySource) RefreshUnknown(ctx context.Context) *bearer.KeySet {
	return s.resolve().RefreshUnknown(ctx)
}

// RetryAfter is the Retry-After of a 503 for want of keys.
func (s *keySource) RetryAfter() int { return s.resolve().RetryAfter() }

// ClientIDs are the in-process issuer's client ids (nil for a remote one).
func (s *keySource) ClientIDs() []string {
	s.resolve()
	return s.clientIDs
}

// Revoked is the in-process issuer's revocation check (nil for a remote
// issuer).
func (s *keySource) Revoked() bearer.RevokedFunc {
	s.resolve()
	return s.revoked
}

// close stops the cache this provider owns (the shared ones go with the
// pool).
func (s *keySource) close() {
	s.mu.Lock()
	s.closed = true
	local := s.local
	s.local = nil
	s.mu.Unlock()
	if local != nil {
		_ = local.Destruct()
	}
}
