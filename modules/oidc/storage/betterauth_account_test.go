package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// A change of address: the newest link only, spent once, refused when
// the address moved on or the new one was taken meanwhile.
func TestEmailChange(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		alice, bob := newUser(t, s, "alice@example.com"), newUser(t, s, "bob@example.com")
		id := func(n string) string { return storage.PurposeChangeEmail + n }
		create := func(n, to string) {
			t.Helper()
			c := storage.EmailChange{UserID: alice.ID, From: "alice@example.com", To: to}
			if err := s.CreateEmailChange(ctx, id(n), c, t0.Add(time.Hour), t0); err != nil {
				t.Fatal(err)
			}
		}
		create("old", "first@example.com")
		create("new", "alice@new.example")
		// The second request voided the first; bob's rows are not touched.
		wantErr(t, "the voided change", func() error { _, err := s.PendingEmailChange(ctx, id("old"), t0); return err }(), storage.ErrNotFound)
		if err := s.CreateEmailChange(ctx, id("bob"), storage.EmailChange{UserID: bob.ID, From: "bob@example.com", To: "b2@example.com"},
			t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		if c, err := s.PendingEmailChange(ctx, id("new"), t0); err != nil || c.UserID != alice.ID || c.To != "alice@new.example" ||
			c.From != "alice@example.com" {
			t.Fatalf("PendingEmailChange: %v %+v", err, c)
		}
		wantErr(t, "an expired change", func() error { _, err := s.PendingEmailChange(ctx, id("new"), t0.Add(2*time.Hour)); return err }(),
			storage.ErrNotFound)
		// A verification link of the old address dies with the change.
		if err := s.CreateVerification(ctx, storage.PurposeEmailVerification+"v", alice.ID, t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		u, err := s.ChangeEmail(ctx, id("new"), t0.Add(time.Minute))
		if err != nil || u.Email != "alice@new.example" || !u.EmailVerified || !u.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("ChangeEmail: %v %+v", err, u)
		}
		wantErr(t, "the old address's link", func() error { _, err := s.VerifyEmail(ctx, storage.PurposeEmailVerification+"v", t0); return err }(),
			storage.ErrNotFound)
		_, err = s.ChangeEmail(ctx, id("new"), t0.Add(time.Minute))
		wantErr(t, "a spent change", err, storage.ErrNotFound)
		if n := count(t, db, "verifications", "identifier = ?", id("bob")); n != 1 {
			t.Fatalf("bob's pending change: %d rows", n)
		}

		// The address moved on since the link was sent.
		create("stale", "third@example.com")
		if _, err := s.UpdateProfile(ctx, alice.ID, nil, nil, t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.ChangeEmail(ctx, id("stale"), t0)
		wantErr(t, "a change from an old address", err, storage.ErrEmailChanged)

		// Taken meanwhile: refused, and the link is not spent.
		if err := s.CreateEmailChange(ctx, id("taken"), storage.EmailChange{UserID: alice.ID, From: "alice@new.example", To: "bob@example.com"},
			t0.Add(time.Hour), t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.ChangeEmail(ctx, id("taken"), t0)
		wantErr(t, "a change to a taken address", err, storage.ErrEmailTaken)
		if _, err := s.PendingEmailChange(ctx, id("taken"), t0); err != nil {
			t.Fatalf("the refused change was spent: %v", err)
		}
		_, err = s.ChangeEmail(ctx, id("taken"), t0.Add(2*time.Hour))
		wantErr(t, "an expired change", err, storage.ErrExpired)

		// The user is gone: DeleteUser took the pending changes with it.
		if err := s.DeleteUser(ctx, bob.ID, t0); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "verifications", "identifier = ?", id("bob")); n != 0 {
			t.Fatalf("a deleted user's pending change stayed: %d rows", n)
		}
	})
}

// The admin plugin's create-user without a password, update-user,
// set-user-password and revoke-user-session.
func TestAdminAccountChanges(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		alice := newUser(t, s, "alice@example.com")
		nopw, err := s.CreateUserNoPassword(ctx, storage.User{Email: "nopw@example.com", Name: "No Password", CreatedAt: t0, UpdatedAt: t0}, "")
		if err != nil || nopw.Role != storage.DefaultRole {
			t.Fatalf("CreateUserNoPassword: %v %+v", err, nopw)
		}
		if has, err := s.HasPassword(ctx, nopw.ID); err != nil || has {
			t.Fatalf("HasPassword of a user made without one: %v %v", has, err)
		}
		_, err = s.CreateUserNoPassword(ctx, storage.User{Email: "alice@example.com", CreatedAt: t0, UpdatedAt: t0}, "")
		wantErr(t, "a second alice", err, storage.ErrEmailTaken)
		withPW, err := s.CreateUserNoPassword(ctx, storage.User{Email: "pw@example.com", Role: "instructor", CreatedAt: t0, UpdatedAt: t0}, "hash-pw")
		if err != nil || withPW.Role != "instructor" {
			t.Fatalf("CreateUserNoPassword with a password: %v %+v", err, withPW)
		}
		if _, hash, err := s.UserWithPassword(ctx, "pw@example.com"); err != nil || hash != "hash-pw" {
			t.Fatalf("its credential: %v %q", err, hash)
		}

		// set-user-password adds the credential account, or replaces it;
		// either way the user's sessions end.
		sess := func(u *storage.User, hash string) {
			t.Helper()
			if _, err := s.CreateSession(ctx, hash, storage.Session{UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		sess(nopw, "n1")
		if err := s.AdminSetPassword(ctx, nopw.ID, "hash-new", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, hash, err := s.UserWithPassword(ctx, "nopw@example.com"); err != nil || hash != "hash-new" {
			t.Fatalf("the added credential: %v %q", err, hash)
		}
		sess(alice, "a1")
		if err := s.AdminSetPassword(ctx, alice.ID, "hash-replaced", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, hash, err := s.UserWithPassword(ctx, "alice@example.com"); err != nil || hash != "hash-replaced" {
			t.Fatalf("the replaced credential: %v %q", err, hash)
		}
		if n := count(t, db, "sessions", "user_id IN (?, ?)", nopw.ID, alice.ID); n != 0 {
			t.Fatalf("sessions left after set-user-password: %d", n)
		}
		wantErr(t, "AdminSetPassword of nobody", s.AdminSetPassword(ctx, "nobody", "x", t0), storage.ErrNotFound)

		// update-user: only the fields given; a ban ends the sessions.
		name, img, email, verified := "Alice B", "https://img.test/a.png", "alice@b.example", true
		u, err := s.UpdateUserFields(ctx, alice.ID, storage.UserFields{Name: &name, Image: &img, Email: &email, EmailVerified: &verified},
			t0.Add(time.Hour))
		if err != nil || u.Name != name || u.Image != img || u.Email != email || !u.EmailVerified || u.Role != storage.DefaultRole ||
			!u.UpdatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("UpdateUserFields: %v %+v", err, u)
		}
		taken := "pw@example.com"
		_, err = s.UpdateUserFields(ctx, alice.ID, storage.UserFields{Email: &taken}, t0)
		wantErr(t, "update-user to a taken address", err, storage.ErrEmailTaken)
		sess(alice, "a2")
		banned, reason, until, role := true, "spam", t0.Add(48*time.Hour), "admin"
		u, err = s.UpdateUserFields(ctx, alice.ID, storage.UserFields{Banned: &banned, BanReason: &reason, BanExpires: &until, Role: &role}, t0)
		if err != nil || !u.Banned || u.BanReason != "spam" || !u.BanExpires.Equal(until) || u.Role != "admin" {
			t.Fatalf("UpdateUserFields ban: %v %+v", err, u)
		}
		if n := count(t, db, "sessions", "user_id = ?", alice.ID); n != 0 {
			t.Fatalf("a banned user kept %d sessions", n)
		}
		empty := ""
		if u, err = s.UpdateUserFields(ctx, alice.ID, storage.UserFields{Image: &empty, BanReason: &empty}, t0); err != nil || u.Image != "" || u.BanReason != "" {
			t.Fatalf("clearing image and ban reason: %v %+v", err, u)
		}
		_, err = s.UpdateUserFields(ctx, "nobody", storage.UserFields{Name: &name}, t0)
		wantErr(t, "UpdateUserFields of nobody", err, storage.ErrNotFound)

		// revoke-user-session by id, whoever's session it is.
		created, err := s.CreateSession(ctx, "p1", storage.Session{UserID: withPW.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.DeleteSessionByID(ctx, created.ID); err != nil || got.UserID != withPW.ID {
			t.Fatalf("DeleteSessionByID: %v %+v", err, got)
		}
		if _, err := s.DeleteSessionByID(ctx, created.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleting it again: %v", err)
		}
	})
}
