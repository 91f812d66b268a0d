package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestAccountsLinkAndFind(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u, err := s.CreateUserWithAccount(ctx, storage.User{Email: "social@example.com", EmailVerified: true, Name: "Social",
			CreatedAt: t0, UpdatedAt: t0}, "google", "g-123")
		if err != nil {
			t.Fatal(err)
		}
		if u.Role != storage.DefaultRole || !u.EmailVerified {
			t.Fatalf("created %+v", u)
		}
		got, err := s.UserByAccount(ctx, "google", "g-123")
		if err != nil || got.ID != u.ID || got.Email != "social@example.com" {
			t.Fatalf("UserByAccount = %+v, %v", got, err)
		}
		_, err = s.UserByAccount(ctx, "github", "g-123")
		wantErr(t, "other provider", err, storage.ErrNotFound)
		// No password: the password lookup finds the user with an empty hash.
		if _, hash, err := s.UserWithPassword(ctx, "social@example.com"); err != nil || hash != "" {
			t.Fatalf("UserWithPassword hash %q, %v", hash, err)
		}
		if has, err := s.HasPassword(ctx, u.ID); err != nil || has {
			t.Fatalf("HasPassword = %v, %v", has, err)
		}

		// The same identity cannot be linked twice, to anyone.
		other := newUser(t, s, "other@example.com")
		wantErr(t, "link taken", s.LinkAccount(ctx, other.ID, "google", "g-123", t0), storage.ErrAccountTaken)
		wantErr(t, "link unknown user", s.LinkAccount(ctx, "nobody", "github", "1", t0), storage.ErrNotFound)
		if err := s.LinkAccount(ctx, other.ID, "github", "42", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.LinkAccount(ctx, other.ID, "idp", "sub-1", t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		list, err := s.LinkedAccounts(ctx, other.ID)
		if err != nil || len(list) != 2 || list[0].ProviderID != "github" || list[1].ProviderID != "idp" || list[0].UserID != other.ID {
			t.Fatalf("LinkedAccounts = %+v, %v", list, err)
		}

		// Creating with a taken address or a linked identity leaves nothing behind.
		_, err = s.CreateUserWithAccount(ctx, storage.User{Email: "other@example.com", CreatedAt: t0, UpdatedAt: t0}, "google", "g-new")
		wantErr(t, "email taken", err, storage.ErrEmailTaken)
		_, err = s.CreateUserWithAccount(ctx, storage.User{Email: "fresh@example.com", CreatedAt: t0, UpdatedAt: t0}, "github", "42")
		wantErr(t, "account taken", err, storage.ErrAccountTaken)
		if n := count(t, db, "users", "email = ?", "fresh@example.com"); n != 0 {
			t.Fatalf("half-created user: %d rows", n)
		}
		if n := count(t, db, "accounts", "account_id = ?", "g-new"); n != 0 {
			t.Fatalf("half-created account: %d rows", n)
		}
		// No upstream token is stored.
		if n := count(t, db, "accounts", "provider_id <> 'credential' AND (access_token IS NOT NULL OR refresh_token IS NOT NULL OR id_token IS NOT NULL)"); n != 0 {
			t.Fatalf("%d accounts hold upstream tokens", n)
		}
	})
}

func TestAccountsUnlinkNeverTheLast(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		// A password user can unlink every upstream identity.
		pw := newUser(t, s, "pw@example.com")
		if err := s.LinkAccount(ctx, pw.ID, "google", "g-1", t0); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unlink unknown", s.UnlinkAccount(ctx, pw.ID, "google", "g-2"), storage.ErrNotFound)
		wantErr(t, "unlink credential", s.UnlinkAccount(ctx, pw.ID, storage.ProviderCredential, pw.ID), storage.ErrNotFound)
		if err := s.UnlinkAccount(ctx, pw.ID, "google", "g-1"); err != nil {
			t.Fatal(err)
		}
		// A social-only user keeps one identity.
		u, err := s.CreateUserWithAccount(ctx, storage.User{Email: "only@example.com", CreatedAt: t0, UpdatedAt: t0}, "github", "7")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unlink last", s.UnlinkAccount(ctx, u.ID, "github", "7"), storage.ErrLastAccount)
		if err := s.LinkAccount(ctx, u.ID, "google", "g-7", t0); err != nil {
			t.Fatal(err)
		}
		// Two concurrent unlinks of the last two: one wins, one is refused.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, target := range [][2]string{{"github", "7"}, {"google", "g-7"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.UnlinkAccount(ctx, u.ID, target[0], target[1])
			}()
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrLastAccount):
				refused++
			default:
				t.Fatalf("concurrent unlink: %v", err)
			}
		}
		if ok != 1 || refused != 1 || count(t, db, "accounts", "user_id = ?", u.ID) != 1 {
			t.Fatalf("concurrent unlinks: %d ok, %d refused, %v", ok, refused, errs)
		}
	})
}
