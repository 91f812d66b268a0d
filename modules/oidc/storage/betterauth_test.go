package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// The session and profile operations of better_auth_api.
func TestSessionLists(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		alice, bob := newUser(t, s, "alice@example.com"), newUser(t, s, "bob@example.com")
		mk := func(u *storage.User, hash string, at time.Time, ttl time.Duration) *storage.Session {
			sess, err := s.CreateSession(ctx, hash, storage.Session{UserID: u.ID, AuthTime: at, ExpiresAt: at.Add(ttl), CreatedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			return sess
		}
		a1 := mk(alice, "h1", t0, time.Hour)
		a2 := mk(alice, "h2", t0.Add(time.Minute), time.Hour)
		mk(alice, "h3", t0, time.Minute) // expires first
		b1 := mk(bob, "h4", t0, time.Hour)

		// The session and its user in one read, expiry as Session.
		if got, u, err := s.SessionWithUser(ctx, "h2", t0.Add(2*time.Minute)); err != nil || got.ID != a2.ID || got.UserID != alice.ID ||
			!got.ExpiresAt.Equal(a2.ExpiresAt) || !got.AuthTime.Equal(a2.AuthTime) || u.ID != alice.ID || u.Email != "alice@example.com" {
			t.Fatalf("SessionWithUser: %v %+v %+v", err, got, u)
		}
		if _, _, err := s.SessionWithUser(ctx, "h3", t0.Add(2*time.Minute)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("SessionWithUser of an expired session: %v", err)
		}
		if _, _, err := s.SessionWithUser(ctx, "nope", t0); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("SessionWithUser of an unknown token: %v", err)
		}

		list, err := s.UserSessions(ctx, alice.ID, t0.Add(2*time.Minute))
		if err != nil || len(list) != 2 || list[0].ID != a1.ID || list[1].ID != a2.ID {
			t.Fatalf("UserSessions: %v %+v", err, list)
		}
		// Another user's session, by id or token hash, is not found.
		if _, err := s.DeleteUserSession(ctx, alice.ID, b1.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleting another user's session by id: %v", err)
		}
		if _, err := s.DeleteUserSession(ctx, alice.ID, "h4"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleting another user's session by hash: %v", err)
		}
		if got, err := s.DeleteUserSession(ctx, alice.ID, "h2"); err != nil || got.ID != a2.ID {
			t.Fatalf("DeleteUserSession by hash: %v %+v", err, got)
		}
		if err := s.ExtendSession(ctx, a1.ID, t0.Add(48*time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(ctx, "h1", t0.Add(47*time.Hour)); err != nil || !got.ExpiresAt.Equal(t0.Add(48*time.Hour)) {
			t.Fatalf("extended session: %v %+v", err, got)
		}
		if err := s.ExtendSession(ctx, "gone", t0, t0); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("extending a missing session: %v", err)
		}
		ended, err := s.DeleteOtherSessions(ctx, alice.ID, a1.ID)
		if err != nil || len(ended) != 1 {
			t.Fatalf("DeleteOtherSessions: %v %+v", err, ended)
		}
		if _, err := s.Session(ctx, "h4", t0); err != nil {
			t.Fatalf("bob's session was touched: %v", err)
		}
		if ended, err := s.DeleteOtherSessions(ctx, alice.ID, ""); err != nil || len(ended) != 1 || ended[0].ID != a1.ID {
			t.Fatalf("DeleteOtherSessions(all): %v %+v", err, ended)
		}

		name, image := "Alice B", "https://img.test/a.png"
		u, err := s.UpdateProfile(ctx, alice.ID, &name, &image, t0.Add(time.Hour))
		if err != nil || u.Name != name || u.Image != image || !u.UpdatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("UpdateProfile: %v %+v", err, u)
		}
		empty := ""
		if u, err = s.UpdateProfile(ctx, alice.ID, nil, &empty, t0.Add(time.Hour)); err != nil || u.Name != name || u.Image != "" {
			t.Fatalf("UpdateProfile clearing the image: %v %+v", err, u)
		}
		if _, err := s.UpdateProfile(ctx, "nobody", &name, nil, t0); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("UpdateProfile of nobody: %v", err)
		}

		if err := s.CreateVerification(ctx, "reset-password:x", alice.ID, t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Verification(ctx, "reset-password:x", t0); err != nil || v != alice.ID {
			t.Fatalf("Verification: %v %q", err, v)
		}
		if _, err := s.Verification(ctx, "reset-password:x", t0.Add(2*time.Hour)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("expired verification: %v", err)
		}
	})
}
