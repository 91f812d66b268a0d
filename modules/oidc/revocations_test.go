package oidc

import (
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The in-memory revocation list: by jti, by session, by user for tokens
// issued (iat, whole seconds) before the revocation; rows are forgotten
// once expired.
func TestRevocationSet(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 500e6, time.UTC)
	s := newRevocationSet()
	if s.revoked("j", "s", "u", now) {
		t.Fatal("empty set revokes")
	}
	s.add([]storage.Revocation{
		{Kind: storage.RevokedToken, Value: "j1", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: storage.RevokedSession, Value: "s1", At: now, ExpiresAt: now.Add(time.Hour)},
		{Kind: storage.RevokedUser, Value: "u1", At: now, ExpiresAt: now.Add(2 * time.Hour)},
	}, now)
	iatBefore, iatAfter := now.Add(-2*time.Second).Truncate(time.Second), now.Add(time.Second).Truncate(time.Second)
	for _, c := range []struct {
		jti, sid, sub string
		iat           time.Time
		want          bool
	}{
		{"j1", "", "x", iatAfter, true},
		{"j2", "s1", "x", iatAfter, true},
		{"j2", "s2", "u1", iatBefore, true},
		{"j2", "s2", "u1", iatAfter, false},
		{"j2", "s2", "u1", time.Time{}, true},
		{"j2", "", "u2", iatBefore, false},
	} {
		if got := s.revoked(c.jti, c.sid, c.sub, c.iat); got != c.want {
			t.Errorf("revoked(%q, %q, %q, %v) = %v", c.jti, c.sid, c.sub, c.iat, got)
		}
	}
	// An older user-level row does not move the time back.
	s.add([]storage.Revocation{{Kind: storage.RevokedUser, Value: "u1", At: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}}, now)
	if !s.revoked("j2", "", "u1", iatBefore) {
		t.Fatal("older row replaced the newer")
	}
	s.add(nil, now.Add(90*time.Minute))
	if s.revoked("j1", "s1", "x", iatAfter) || !s.revoked("j", "", "u1", iatBefore) {
		t.Fatal("expiry: token and session rows must go, the user row stay")
	}
	s.add(nil, now.Add(3*time.Hour))
	if s.revoked("j", "", "u1", iatBefore) {
		t.Fatal("expired user row kept")
	}
}

// BenchmarkRevoked is the cost bearer_jwt pays per request.
func BenchmarkRevoked(b *testing.B) {
	now := time.Now()
	s := newRevocationSet()
	var rows []storage.Revocation
	for i := range 10000 {
		rows = append(rows, storage.Revocation{Kind: storage.RevokedToken, Value: string(rune('a'+i%26)) + time.Duration(i).String(), At: now, ExpiresAt: now.Add(time.Hour)})
	}
	rows = append(rows, storage.Revocation{Kind: storage.RevokedUser, Value: "u", At: now, ExpiresAt: now.Add(time.Hour)})
	s.add(rows, now)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.revoked("some-jti-value", "some-session", "someone", now)
		}
	})
}
