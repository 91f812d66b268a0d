package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// serial numbers the tokens the tests issue, so none collide.
var serial atomic.Int64

// newIssue names a fresh access token and refresh token living an hour
// after t0.
func newIssue() storage.Issue {
	n := serial.Add(1)
	return storage.Issue{AccessJTI: fmt.Sprintf("jti-%d", n), AccessExpires: t0.Add(time.Hour),
		RefreshHash: fmt.Sprintf("refresh-%d", n), RefreshExpires: t0.Add(time.Hour)}
}

// newCode stores a code of client web for u, valid for a minute from t0.
func newCode(t *testing.T, s storage.Storage, u *storage.User) storage.Code {
	t.Helper()
	c := storage.Code{Hash: fmt.Sprintf("code-%d", serial.Add(1)), ClientID: "web", UserID: u.ID, SessionID: "session-1",
		RedirectURI: "https://app.test/cb", Scopes: []string{"openid", "offline_access"}, Nonce: "n-1",
		CodeChallenge: "challenge", AuthTime: t0.Add(-time.Minute), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := s.CreateCode(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// newFamily redeems a fresh code and returns what it issued: the first
// refresh token of a family and its access token.
func newFamily(t *testing.T, s storage.Storage, u *storage.User) storage.Issue {
	t.Helper()
	is := newIssue()
	if _, _, err := s.RedeemCode(context.Background(), newCode(t, s, u).Hash, "web", t0, nil, is); err != nil {
		t.Fatal(err)
	}
	return is
}

// live reports whether the tokens of is are still usable.
func live(t *testing.T, s storage.Storage, is storage.Issue, now time.Time) (access, refresh bool) {
	t.Helper()
	ctx := context.Background()
	access, err := s.AccessTokenActive(ctx, is.AccessJTI, now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ActiveRefreshToken(ctx, is.RefreshHash, now)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return access, err == nil
}

func TestRedeemCode(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "code@example.com")
		c := newCode(t, s, u)
		is := newIssue()
		now := t0.Add(time.Second)
		var checked *storage.Code
		got, gotUser, err := s.RedeemCode(ctx, c.Hash, "web", now, func(c *storage.Code) error { checked = c; return nil }, is)
		if err != nil {
			t.Fatal(err)
		}
		if checked == nil || checked.Hash != c.Hash {
			t.Fatalf("check saw %+v", checked)
		}
		if got.GrantID == "" || got.ClientID != "web" || got.UserID != u.ID || got.SessionID != "session-1" ||
			got.RedirectURI != c.RedirectURI || !slices.Equal(got.Scopes, c.Scopes) || got.Nonce != "n-1" ||
			got.CodeChallenge != "challenge" || !got.AuthTime.Equal(c.AuthTime) || !got.CreatedAt.Equal(t0) ||
			!got.ExpiresAt.Equal(c.ExpiresAt) || !got.UsedAt.Equal(now) {
			t.Fatalf("redeemed %+v, stored %+v", got, c)
		}
		if gotUser == nil || gotUser.ID != u.ID || gotUser.Email != u.Email {
			t.Fatalf("user %+v", gotUser)
		}
		rt, err := s.ActiveRefreshToken(ctx, is.RefreshHash, now)
		if err != nil {
			t.Fatal(err)
		}
		if rt.GrantID != got.GrantID || rt.ClientID != "web" || rt.UserID != u.ID || rt.SessionID != "session-1" ||
			!slices.Equal(rt.Scopes, c.Scopes) || !rt.AuthTime.Equal(c.AuthTime) || !rt.CreatedAt.Equal(now) ||
			!rt.ExpiresAt.Equal(is.RefreshExpires) || !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() {
			t.Fatalf("refresh token %+v", rt)
		}
		if access, _ := live(t, s, is, now); !access {
			t.Fatal("the access token of a redemption is not active")
		}

		// The second redemption is reuse: refused, and what the first
		// issued is revoked (RFC 6749 §4.1.2).
		again, _, err := s.RedeemCode(ctx, c.Hash, "web", now, nil, newIssue())
		wantErr(t, "second redemption", err, storage.ErrReused)
		if again == nil || again.UserID != u.ID {
			t.Fatalf("reuse returned %+v; the audit needs its user", again)
		}
		if access, refresh := live(t, s, is, now); access || refresh {
			t.Fatalf("after reuse: access %v, refresh %v; want both revoked", access, refresh)
		}
		if n := count(t, db, "oidc_access_tokens", ""); n != 1 {
			t.Fatalf("%d access tokens: a refused redemption recorded one", n)
		}
	})
}

func TestRedeemCodeRefusals(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "refusals@example.com")
		c := newCode(t, s, u)

		_, _, err := s.RedeemCode(ctx, "unknown", "web", t0, nil, newIssue())
		wantErr(t, "unknown code", err, storage.ErrNotFound)

		// Refusals that leave the code to its client: another client, and
		// the caller's own checks.
		_, _, err = s.RedeemCode(ctx, c.Hash, "other", t0, nil, newIssue())
		wantErr(t, "another client's code", err, storage.ErrWrongClient)
		mismatch := errors.New("redirect_uri does not match")
		_, _, err = s.RedeemCode(ctx, c.Hash, "web", t0, func(*storage.Code) error { return mismatch }, newIssue())
		if err != mismatch {
			t.Fatalf("check's error came back as %v", err)
		}
		if n := count(t, db, "oidc_access_tokens", ""); n != 0 {
			t.Fatal("a refused redemption recorded tokens")
		}
		if _, _, err := s.RedeemCode(ctx, c.Hash, "web", t0, nil, newIssue()); err != nil {
			t.Fatalf("the rightful redemption after refused attempts: %v", err)
		}

		expired := newCode(t, s, u)
		_, _, err = s.RedeemCode(ctx, expired.Hash, "web", expired.ExpiresAt, nil, newIssue())
		wantErr(t, "expired code", err, storage.ErrExpired)

		banned := newCode(t, s, u)
		if _, err := db.Exec(ctx, "UPDATE users SET banned = 1 WHERE id = ?", u.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.RedeemCode(ctx, banned.Hash, "web", t0, nil, newIssue())
		wantErr(t, "banned user's code", err, storage.ErrUserBlocked)
		if _, err := db.Exec(ctx, "UPDATE users SET ban_expires = ? WHERE id = ?", t0.UnixMilli(), u.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RedeemCode(ctx, banned.Hash, "web", t0, nil, newIssue()); err != nil {
			t.Fatalf("after the ban expired: %v", err)
		}

		gone := newCode(t, s, u)
		if _, err := db.Exec(ctx, "DELETE FROM users WHERE id = ?", u.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.RedeemCode(ctx, gone.Hash, "web", t0, nil, newIssue())
		wantErr(t, "deleted user's code", err, storage.ErrUserBlocked)
	})
}

// TestRedeemCodeRace: of concurrent redemptions of one code exactly one
// succeeds; the others are reuse, so the winner's tokens end revoked.
func TestRedeemCodeRace(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		u := newUser(t, s, "race@example.com")
		c := newCode(t, s, u)
		var mu sync.Mutex
		var wins []storage.Issue
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				is := newIssue()
				_, _, err := s.RedeemCode(context.Background(), c.Hash, "web", t0, nil, is)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, is)
				case !errors.Is(err, storage.ErrReused):
					t.Errorf("losing redemption: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d redemptions of one code succeeded", len(wins))
		}
		if access, refresh := live(t, s, wins[0], t0); access || refresh {
			t.Fatalf("winner's tokens after the losing reuses: access %v, refresh %v", access, refresh)
		}
	})
}

func TestRotateRefresh(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "rotate@example.com")
		first := newFamily(t, s, u)
		before, err := s.ActiveRefreshToken(ctx, first.RefreshHash, t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Minute)
		second := newIssue()
		var checked *storage.RefreshToken
		got, gotUser, err := s.RotateRefresh(ctx, first.RefreshHash, "web", now, func(rt *storage.RefreshToken) error { checked = rt; return nil }, second)
		if err != nil {
			t.Fatal(err)
		}
		if checked == nil || checked.Hash != first.RefreshHash || got.Hash != first.RefreshHash || !got.UsedAt.Equal(now) ||
			gotUser == nil || gotUser.ID != u.ID {
			t.Fatalf("rotated %+v (check saw %+v), user %+v", got, checked, gotUser)
		}
		next, err := s.ActiveRefreshToken(ctx, second.RefreshHash, now)
		if err != nil {
			t.Fatal(err)
		}
		if next.GrantID != before.GrantID || next.SessionID != before.SessionID || !slices.Equal(next.Scopes, before.Scopes) ||
			!next.AuthTime.Equal(before.AuthTime) || !next.CreatedAt.Equal(now) || !next.ExpiresAt.Equal(second.RefreshExpires) {
			t.Fatalf("successor %+v does not continue %+v", next, before)
		}
		if _, refresh := live(t, s, first, now); refresh {
			t.Fatal("a rotated refresh token is still active")
		}
		if access, _ := live(t, s, second, now); !access {
			t.Fatal("the access token of a rotation is not active")
		}

		// Refusals.
		_, _, err = s.RotateRefresh(ctx, "unknown", "web", now, nil, newIssue())
		wantErr(t, "unknown token", err, storage.ErrNotFound)
		_, _, err = s.RotateRefresh(ctx, second.RefreshHash, "other", now, nil, newIssue())
		wantErr(t, "another client's token", err, storage.ErrWrongClient)
		tooWide := errors.New("scope exceeds the grant")
		_, _, err = s.RotateRefresh(ctx, second.RefreshHash, "web", now, func(*storage.RefreshToken) error { return tooWide }, newIssue())
		if err != tooWide {
			t.Fatalf("check's error came back as %v", err)
		}
		_, _, err = s.RotateRefresh(ctx, second.RefreshHash, "web", second.RefreshExpires, nil, newIssue())
		wantErr(t, "expired token", err, storage.ErrExpired)
		if _, refresh := live(t, s, second, now); !refresh {
			t.Fatal("a refused rotation spent the token")
		}
		if _, err := db.Exec(ctx, "UPDATE users SET banned = 1 WHERE id = ?", u.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.RotateRefresh(ctx, second.RefreshHash, "web", now, nil, newIssue())
		wantErr(t, "banned user's token", err, storage.ErrUserBlocked)
	})
}

// TestRefreshReuse: presenting a rotated refresh token again revokes the
// family (RFC 9700 §4.14): the live token and every access token.
func TestRefreshReuse(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "reuse@example.com")
		a := newFamily(t, s, u)
		b := newIssue()
		if _, _, err := s.RotateRefresh(ctx, a.RefreshHash, "web", t0, nil, b); err != nil {
			t.Fatal(err)
		}
		other := newFamily(t, s, u) // another grant of the same user
		replayed, _, err := s.RotateRefresh(ctx, a.RefreshHash, "web", t0, nil, newIssue())
		wantErr(t, "replay of a rotated token", err, storage.ErrReused)
		if replayed == nil || replayed.UserID != u.ID {
			t.Fatalf("reuse returned %+v; the audit needs its user", replayed)
		}
		for name, is := range map[string]storage.Issue{"a": a, "b": b} {
			if access, refresh := live(t, s, is, t0); access || refresh {
				t.Errorf("%s after the replay: access %v, refresh %v", name, access, refresh)
			}
		}
		_, _, err = s.RotateRefresh(ctx, b.RefreshHash, "web", t0, nil, newIssue())
		wantErr(t, "the family's live token after a replay", err, storage.ErrRevoked)
		if access, refresh := live(t, s, other, t0); !access || !refresh {
			t.Fatal("a replay revoked another grant")
		}
	})
}

// TestRotateRefreshRace: concurrent rotations of one refresh token admit
// one; the next is reuse, which revokes the family (the winner's new tokens
// included), and the rest find it revoked.
func TestRotateRefreshRace(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		u := newUser(t, s, "rotate-race@example.com")
		a := newFamily(t, s, u)
		var mu sync.Mutex
		var wins []storage.Issue
		reuses := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				is := newIssue()
				_, _, err := s.RotateRefresh(context.Background(), a.RefreshHash, "web", t0, nil, is)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, is)
				case errors.Is(err, storage.ErrReused):
					reuses++
				case !errors.Is(err, storage.ErrRevoked):
					t.Errorf("losing rotation: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 || reuses != 1 {
			t.Fatalf("%d rotations of one refresh token succeeded and %d were reuse, want 1 and 1", len(wins), reuses)
		}
		if access, refresh := live(t, s, wins[0], t0); access || refresh {
			t.Fatalf("winner's tokens after the losing reuses: access %v, refresh %v", access, refresh)
		}
	})
}

// TestReuseRacingRotation: a replay of an old token while the family's live
// token is being rotated leaves no live token, whichever commits first.
func TestReuseRacingRotation(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "reuse-race@example.com")
		for round := range 10 {
			a := newFamily(t, s, u)
			b := newIssue()
			if _, _, err := s.RotateRefresh(ctx, a.RefreshHash, "web", t0, nil, b); err != nil {
				t.Fatal(err)
			}
			c := newIssue()
			var wg sync.WaitGroup
			var rotateErr, replayErr error
			wg.Add(2)
			go func() { defer wg.Done(); _, _, rotateErr = s.RotateRefresh(ctx, b.RefreshHash, "web", t0, nil, c) }()
			go func() {
				defer wg.Done()
				_, _, replayErr = s.RotateRefresh(ctx, a.RefreshHash, "web", t0, nil, newIssue())
			}()
			wg.Wait()
			if !errors.Is(replayErr, storage.ErrReused) {
				t.Fatalf("round %d: replay: %v", round, replayErr)
			}
			if rotateErr != nil && !errors.Is(rotateErr, storage.ErrRevoked) {
				t.Fatalf("round %d: rotation: %v", round, rotateErr)
			}
			for name, is := range map[string]storage.Issue{"b": b, "c": c} {
				if access, refresh := live(t, s, is, t0); access || refresh {
					t.Fatalf("round %d (rotation: %v): %s survived the replay: access %v, refresh %v", round, rotateErr, name, access, refresh)
				}
			}
		}
	})
}

func TestRevokeRefreshToken(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "revoke@example.com")
		a := newFamily(t, s, u)
		b := newIssue()
		if _, _, err := s.RotateRefresh(ctx, a.RefreshHash, "web", t0, nil, b); err != nil {
			t.Fatal(err)
		}
		_, err := s.RevokeRefreshToken(ctx, b.RefreshHash, "other", t0)
		wantErr(t, "revoking another client's token", err, storage.ErrWrongClient)
		if access, refresh := live(t, s, b, t0); !access || !refresh {
			t.Fatal("another client's revocation revoked something")
		}
		_, err = s.RevokeRefreshToken(ctx, "unknown", "web", t0)
		wantErr(t, "revoking an unknown token", err, storage.ErrNotFound)

		// Revoking a spent member of the family revokes the live one too.
		rt, err := s.RevokeRefreshToken(ctx, a.RefreshHash, "web", t0)
		if err != nil || rt.UserID != u.ID || rt.ClientID != "web" {
			t.Fatalf("RevokeRefreshToken: %+v %v", rt, err)
		}
		for name, is := range map[string]storage.Issue{"a": a, "b": b} {
			if access, refresh := live(t, s, is, t0); access || refresh {
				t.Errorf("%s after revocation: access %v, refresh %v", name, access, refresh)
			}
		}
		if _, err := s.RevokeRefreshToken(ctx, a.RefreshHash, "web", t0); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
	})
}

func TestAccessTokens(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "access@example.com")
		if active, err := s.AccessTokenActive(ctx, "unknown", t0); err != nil || active {
			t.Fatalf("unknown jti: %v %v", active, err)
		}
		a, b := newFamily(t, s, u), newFamily(t, s, u)
		if active, err := s.AccessTokenActive(ctx, a.AccessJTI, a.AccessExpires.Add(-time.Millisecond)); err != nil || !active {
			t.Fatalf("before expiry: %v %v", active, err)
		}
		if active, _ := s.AccessTokenActive(ctx, a.AccessJTI, a.AccessExpires); active {
			t.Fatal("active at its expiry")
		}
		if err := s.RevokeAccessToken(ctx, a.AccessJTI, t0); err != nil {
			t.Fatal(err)
		}
		if active, _ := s.AccessTokenActive(ctx, a.AccessJTI, t0); active {
			t.Fatal("active after revocation")
		}
		if access, refresh := live(t, s, b, t0); !access || !refresh {
			t.Fatal("revoking one access token revoked another grant's")
		}
		if _, refresh := live(t, s, a, t0); !refresh {
			t.Fatal("revoking an access token revoked its refresh token")
		}
		if err := s.RevokeAccessToken(ctx, a.AccessJTI, t0); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if err := s.RevokeAccessToken(ctx, "unknown", t0); err != nil {
			t.Fatalf("revoking an unknown jti: %v", err)
		}
	})
}
