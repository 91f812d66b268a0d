package storage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestVerifyEmail(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "vera@example.com")
		id := storage.PurposeEmailVerification + "hash-1"
		if err := s.CreateVerification(ctx, id, u.ID, t0.Add(24*time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.VerifyEmail(ctx, id, t0.Add(24*time.Hour))
		wantErr(t, "an expired verification", err, storage.ErrExpired)
		if n := count(t, db, "users", "email_verified = 1"); n != 0 {
			t.Fatalf("an expired token verified the address")
		}

		// Of concurrent spends, exactly one succeeds.
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, err := s.VerifyEmail(ctx, id, t0.Add(time.Hour)); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
					if got.ID != u.ID || !got.EmailVerified {
						t.Errorf("verified %+v", got)
					}
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d spends of one verification succeeded, want 1", ok)
		}
		_, err = s.VerifyEmail(ctx, id, t0.Add(time.Hour))
		wantErr(t, "a spent verification", err, storage.ErrNotFound)
		_, err = s.VerifyEmail(ctx, "email-verification:unknown", t0)
		wantErr(t, "an unknown verification", err, storage.ErrNotFound)

		// A verification whose user is gone.
		if err := s.CreateVerification(ctx, storage.PurposeEmailVerification+"hash-2", "nobody", t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.VerifyEmail(ctx, storage.PurposeEmailVerification+"hash-2", t0)
		wantErr(t, "a verification of a deleted user", err, storage.ErrUserBlocked)
	})
}

func TestResetAndChangePassword(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "rosa@example.com")
		other := newUser(t, s, "otto@example.com")
		issued := newFamily(t, s, u)
		otherIssued := newFamily(t, s, other)
		for _, who := range []*storage.User{u, other} {
			if _, err := s.CreateSession(ctx, "session-of-"+who.ID, storage.Session{UserID: who.ID, AuthTime: t0,
				ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range []string{"r1", "r2"} {
			if err := s.CreateVerification(ctx, storage.PurposeResetPassword+h, u.ID, t0.Add(time.Hour), t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateVerification(ctx, storage.PurposeEmailVerification+"v1", u.ID, t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}

		_, err := s.ResetPassword(ctx, storage.PurposeResetPassword+"nope", "$new", t0)
		wantErr(t, "an unknown reset token", err, storage.ErrNotFound)
		_, err = s.ResetPassword(ctx, storage.PurposeResetPassword+"r1", "$new", t0.Add(2*time.Hour))
		wantErr(t, "an expired reset token", err, storage.ErrExpired)
		if _, hash, _ := s.UserWithPassword(ctx, u.Email); hash != "hash-of-"+u.Email {
			t.Fatalf("a refused reset changed the hash to %q", hash)
		}

		got, err := s.ResetPassword(ctx, storage.PurposeResetPassword+"r1", "$new", t0.Add(time.Minute))
		if err != nil || got.ID != u.ID {
			t.Fatalf("reset: %+v %v", got, err)
		}
		if _, hash, _ := s.UserWithPassword(ctx, u.Email); hash != "$new" {
			t.Fatalf("hash after reset %q", hash)
		}
		if n := count(t, db, "sessions", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d sessions survive a reset", n)
		}
		if n := count(t, db, "sessions", "user_id = ?", other.ID); n != 1 {
			t.Fatalf("another user's session was deleted")
		}
		if _, err := s.ActiveRefreshToken(ctx, issued.RefreshHash, t0); err == nil {
			t.Fatalf("the refresh token survives a reset")
		}
		if _, err := s.ActiveRefreshToken(ctx, otherIssued.RefreshHash, t0); err != nil {
			t.Fatalf("another user's refresh token was revoked: %v", err)
		}
		if n := count(t, db, "oidc_access_tokens", "user_id = ? AND revoked_at IS NULL", u.ID); n != 0 {
			t.Fatalf("%d access tokens survive a reset", n)
		}
		if n := count(t, db, "verifications", "value = ?", u.ID); n != 1 {
			t.Fatalf("%d verifications left, want only the e-mail verification (other reset links are void)", n)
		}
		_, err = s.ResetPassword(ctx, storage.PurposeResetPassword+"r2", "$other", t0.Add(time.Minute))
		wantErr(t, "a reset link older than the reset", err, storage.ErrNotFound)

		// Change: the same, without a token.
		fam := newFamily(t, s, u)
		if err := s.ChangePassword(ctx, u.ID, "$changed", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, hash, _ := s.UserWithPassword(ctx, u.Email); hash != "$changed" {
			t.Fatalf("hash after change %q", hash)
		}
		if _, err := s.ActiveRefreshToken(ctx, fam.RefreshHash, t0); err == nil {
			t.Fatalf("the refresh token survives a change")
		}
		wantErr(t, "ChangePassword of an unknown user", s.ChangePassword(ctx, "nobody", "x", t0), storage.ErrNotFound)

		if err := s.DeleteVerifications(ctx, storage.PurposeEmailVerification, u.ID); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "verifications", ""); n != 0 {
			t.Fatalf("%d verifications after DeleteVerifications", n)
		}
	})
}
