package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// revocationsSince returns the rows as kind:value, for comparison.
func revocationsSince(t *testing.T, s storage.Storage, since, now time.Time) map[string]storage.Revocation {
	t.Helper()
	rows, err := s.RevocationsSince(context.Background(), since, now)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.Revocation{}
	for _, r := range rows {
		out[r.Kind+":"+r.Value] = r
	}
	return out
}

// Every way of revoking an access token records it in the revocation list
// that bearer_jwt reads (by jti, with the token's expiry), and the list
// answers by time.
func TestRevocationList(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "revocations@example.com")

		// One access token.
		a := newFamily(t, s, u)
		if err := s.RevokeAccessToken(ctx, a.AccessJTI, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		got := revocationsSince(t, s, t0, t0.Add(2*time.Second))
		r, ok := got["jti:"+a.AccessJTI]
		if len(got) != 1 || !ok || !r.At.Equal(t0.Add(time.Second)) || !r.ExpiresAt.Equal(a.AccessExpires) {
			t.Fatalf("after RevokeAccessToken: %+v", got)
		}
		if again := revocationsSince(t, s, t0.Add(2*time.Second), t0.Add(2*time.Second)); len(again) != 0 {
			t.Fatalf("rows before since returned: %+v", again)
		}
		if gone := revocationsSince(t, s, t0, a.AccessExpires); len(gone) != 0 {
			t.Fatalf("expired rows returned: %+v", gone)
		}
		// Revoking it again adds nothing and moves nothing.
		if err := s.RevokeAccessToken(ctx, a.AccessJTI, t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "oidc_revocations", ""); n != 1 {
			t.Fatalf("%d rows", n)
		}

		// A refresh family (RFC 7009 §2.1) and a replayed code.
		b := newFamily(t, s, u)
		if _, err := s.RevokeRefreshToken(ctx, b.RefreshHash, "web", t0.Add(4*time.Second)); err != nil {
			t.Fatal(err)
		}
		c := newIssue()
		code := newCode(t, s, u)
		if _, _, err := s.RedeemCode(ctx, code.Hash, "web", t0, nil, c); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RedeemCode(ctx, code.Hash, "web", t0.Add(5*time.Second), nil, newIssue()); err == nil {
			t.Fatal("replayed code accepted")
		}
		got = revocationsSince(t, s, t0.Add(4*time.Second), t0.Add(6*time.Second))
		if _, ok := got["jti:"+b.AccessJTI]; !ok {
			t.Fatalf("revoked family's access token missing: %+v", got)
		}
		if _, ok := got["jti:"+c.AccessJTI]; !ok {
			t.Fatalf("replayed code's access token missing: %+v", got)
		}

		// A session: its refresh families, access tokens and the sid.
		d := newFamily(t, s, u)
		if err := s.RevokeSessionTokens(ctx, "session-1", t0.Add(7*time.Second), t0.Add(7*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if access, refresh := live(t, s, d, t0.Add(8*time.Second)); access || refresh {
			t.Fatalf("session's tokens still live: access %v refresh %v", access, refresh)
		}
		got = revocationsSince(t, s, t0.Add(7*time.Second), t0.Add(8*time.Second))
		if _, ok := got["jti:"+d.AccessJTI]; !ok {
			t.Fatalf("session's access token missing: %+v", got)
		}
		if r, ok := got["sid:session-1"]; !ok || !r.ExpiresAt.Equal(t0.Add(7*time.Hour)) {
			t.Fatalf("session row: %+v", got)
		}

		// Every token of a user; a later revocation moves the user's row.
		e := newFamily(t, s, u)
		for _, at := range []time.Time{t0.Add(9 * time.Second), t0.Add(10 * time.Second)} {
			if err := s.RevokeUserTokens(ctx, u.ID, at, at.Add(6*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if access, refresh := live(t, s, e, t0.Add(11*time.Second)); access || refresh {
			t.Fatalf("user's tokens still live: access %v refresh %v", access, refresh)
		}
		got = revocationsSince(t, s, t0.Add(9*time.Second), t0.Add(11*time.Second))
		if r, ok := got["sub:"+u.ID]; !ok || !r.At.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("user row: %+v", got)
		}
		if _, ok := got["jti:"+e.AccessJTI]; !ok {
			t.Fatalf("user's access token missing: %+v", got)
		}

		// A ban (and the admin's revoke-sessions and delete, which share
		// its code) puts the user's access tokens on the list too.
		f := newFamily(t, s, u)
		if _, err := s.(*storage.SQL).BanUser(ctx, u.ID, "spam", time.Time{}, t0.Add(12*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, ok := revocationsSince(t, s, t0.Add(12*time.Second), t0.Add(13*time.Second))["jti:"+f.AccessJTI]; !ok {
			t.Fatal("banned user's access token not on the list")
		}

		// The sweeper deletes the rows once they name no live token.
		if err := s.DeleteExpired(ctx, t0.Add(8*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "oidc_revocations", ""); n != 0 {
			t.Fatalf("%d rows after the sweep", n)
		}
	})
}
