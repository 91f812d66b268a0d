package oidc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// How revocations reach bearer_jwt. Every provider keeps the revocation
// list (storage.Revocations) in memory and registers revoked as its local
// issuer's check, so bearer_jwt of the same config refuses a revoked
// token with an in-memory lookup. A revocation on this node is applied
// before the revoking request answers (the provider polls at once);
// revocations on other nodes arrive with the next poll, every
// revocationPoll. Rows are read again for revocationOverlap after they
// were written, so a slow commit or a node whose clock lags a little is
// not missed.
const (
	revocationPoll    = 2 * time.Second
	revocationOverlap = 30 * time.Second
)

// revocationSet is the in-memory revocation list. Readers load an
// immutable snapshot (one atomic load, then map lookups on maps that are
// almost always empty); the poller, the only writer besides the revoking
// requests, builds a new snapshot when something changed.
type revocationSet struct {
	snap atomic.Pointer[revocationSnapshot]

	mu    sync.Mutex // one writer (and one poll) at a time
	since time.Time  // the next poll reads rows from here
}

type revocationSnapshot struct {
	tokens map[string]time.Time // jti → expiry of the row
	sids   map[string]time.Time // session id → expiry
	users  map[string]userRevocation
}

type userRevocation struct{ at, expires time.Time }

func newRevocationSet() *revocationSet {
	s := &revocationSet{}
	s.snap.Store(&revocationSnapshot{tokens: map[string]time.Time{}, sids: map[string]time.Time{}, users: map[string]userRevocation{}})
	return s
}

// revoked is the bearer.RevokedFunc of the provider's local issuer: a token
// is revoked by its jti, its session, or a revocation of its user's tokens
// issued before it (compared in whole seconds, as iat is; a token issued
// in the second of the revocation is also revoked by its jti when it was
// recorded, which every token of ours is).
func (s *revocationSet) revoked(jti, sid, sub string, iat time.Time) bool {
	if s == nil {
		return false
	}
	snap := s.snap.Load()
	if len(snap.tokens) > 0 && jti != "" {
		if _, ok := snap.tokens[jti]; ok {
			return true
		}
	}
	if len(snap.sids) > 0 && sid != "" {
		if _, ok := snap.sids[sid]; ok {
			return true
		}
	}
	if len(snap.users) > 0 {
		if u, ok := snap.users[sub]; ok && (iat.IsZero() || iat.Unix() < u.at.Unix()) {
			return true
		}
	}
	return false
}

// add applies rows and forgets the ones expired by now.
func (s *revocationSet) add(rows []storage.Revocation, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(rows, now)
}

func (s *revocationSet) addLocked(rows []storage.Revocation, now time.Time) {
	old := s.snap.Load()
	changed := false
	for _, r := range rows {
		switch r.Kind {
		case storage.RevokedToken:
			_, ok := old.tokens[r.Value]
			changed = changed || !ok
		case storage.RevokedSession:
			_, ok := old.sids[r.Value]
			changed = changed || !ok
		case storage.RevokedUser:
			u, ok := old.users[r.Value]
			changed = changed || !ok || r.At.After(u.at)
		}
	}
	for _, exp := range old.tokens {
		changed = changed || !now.Before(exp)
	}
	for _, exp := range old.sids {
		changed = changed || !now.Before(exp)
	}
	for _, u := range old.users {
		changed = changed || !now.Before(u.expires)
	}
	if !changed {
		return
	}
	next := &revocationSnapshot{tokens: map[string]time.Time{}, sids: map[string]time.Time{}, users: map[string]userRevocation{}}
	for k, exp := range old.tokens {
		if now.Before(exp) {
			next.tokens[k] = exp
		}
	}
	for k, exp := range old.sids {
		if now.Before(exp) {
			next.sids[k] = exp
		}
	}
	for k, u := range old.users {
		if now.Before(u.expires) {
			next.users[k] = u
		}
	}
	for _, r := range rows {
		if !now.Before(r.ExpiresAt) {
			continue
		}
		switch r.Kind {
		case storage.RevokedToken:
			next.tokens[r.Value] = r.ExpiresAt
		case storage.RevokedSession:
			next.sids[r.Value] = r.ExpiresAt
		case storage.RevokedUser:
			if u, ok := next.users[r.Value]; !ok || r.At.After(u.at) {
				next.users[r.Value] = userRevocation{at: r.At, expires: r.ExpiresAt}
			}
		}
	}
	s.snap.Store(next)
}

// poll reads the rows recorded since the last poll (less the overlap).
func (s *revocationSet) poll(ctx context.Context, st storage.Revocations, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := st.RevocationsSince(ctx, s.since, now)
	if err != nil {
		return err
	}
	s.addLocked(rows, now)
	s.since = now.Add(-revocationOverlap)
	return nil
}

// watchRevocations polls the revocation list until ctx (the module's
// context) ends at the next reload.
func (p *provider) watchRevocations(ctx context.Context) {
	t := time.NewTicker(revocationPoll)
	defer t.Stop()
	for {
		if st, err := p.storage(ctx); err == nil {
			if err := p.revocations.poll(ctx, st, p.now()); err != nil && ctx.Err() == nil {
				p.logger.Warn("reading the revocation list", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revocationsChanged applies this node's own revocations at once, before
// the request that made them answers (other nodes see them within
// revocationPoll).
func (p *provider) revocationsChanged(ctx context.Context, st storage.Storage) {
	if err := p.revocations.poll(ctx, st, p.now()); err != nil {
		p.logger.Warn("reading the revocation list", zap.Error(err))
	}
}

// applyRevocations is revocationsChanged for callers without a storage at
// hand (the admin API after a ban or "revoke sessions").
func (p *provider) applyRevocations(ctx context.Context) {
	if st, err := p.storage(ctx); err == nil {
		p.revocationsChanged(ctx, st)
	}
}

// revocationExpiry is when a revocation made now can name no live token:
// the longest access-token life, plus bearer_jwt's largest leeway.
func (p *provider) revocationExpiry(now time.Time) time.Time {
	return now.Add(p.accessTTL + 5*time.Minute)
}

// RevokeUserTokens revokes every token of the user: refresh tokens at
// once, access tokens at every bearer_jwt of this issuer (within
// revocationPoll on other nodes). For bans, password resets and "sign out
// everywhere"; the caller records the audit event.
func (p *provider) RevokeUserTokens(ctx context.Context, userID string) error {
	st, err := p.storage(ctx)
	if err != nil {
		return err
	}
	now := p.now()
	if err := st.RevokeUserTokens(ctx, userID, now, p.revocationExpiry(now)); err != nil {
		return err
	}
	p.revocationsChanged(ctx, st)
	return nil
}

// revokeSessionTokens revokes the tokens issued in a sign-in session (its
// refresh families, and its access tokens everywhere).
func (p *provider) revokeSessionTokens(ctx context.Context, st storage.Storage, sessionID string) error {
	now := p.now()
	if err := st.RevokeSessionTokens(ctx, sessionID, now, p.revocationExpiry(now)); err != nil {
		return err
	}
	p.revocationsChanged(ctx, st)
	return nil
}
