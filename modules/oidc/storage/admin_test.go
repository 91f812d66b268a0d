package storage_test

// Conformance cases for storage.Admin (and the role and claims columns of
// migration 0003), on SQLite and PostgreSQL.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestAdminUsers(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		a := s.(storage.Admin)
		alice := newUser(t, s, "alice@example.com")
		if alice.Role != storage.DefaultRole || storage.DefaultRole != "student" {
			t.Fatalf("new user's role %q", alice.Role)
		}
		newUser(t, s, "bob@example.com")
		newUser(t, s, "carol_x@example.com")

		u, err := a.UserByEmail(ctx, "alice@example.com")
		if err != nil || u.ID != alice.ID {
			t.Fatalf("UserByEmail: %v %v", u, err)
		}
		_, err = a.UserByEmail(ctx, "nobody@example.com")
		wantErr(t, "unknown email", err, storage.ErrNotFound)

		users, total, err := a.ListUsers(ctx, storage.UserQuery{Limit: 2})
		if err != nil || total != 3 || len(users) != 2 {
			t.Fatalf("ListUsers: %d of %d (%v)", len(users), total, err)
		}
		users, total, err = a.ListUsers(ctx, storage.UserQuery{Limit: 2, Offset: 2})
		if err != nil || total != 3 || len(users) != 1 {
			t.Fatalf("ListUsers page 2: %d of %d (%v)", len(users), total, err)
		}
		users, total, _ = a.ListUsers(ctx, storage.UserQuery{Search: "BOB"})
		if total != 1 || users[0].Email != "bob@example.com" {
			t.Fatalf("search bob: %d", total)
		}
		// LIKE wildcards in the search are literal.
		if _, total, _ = a.ListUsers(ctx, storage.UserQuery{Search: "_"}); total != 1 {
			t.Fatalf("search _: %d, want 1", total)
		}

		if u, err = a.SetRole(ctx, alice.ID, "instructor,admin", t0); err != nil || u.Role != "instructor,admin" {
			t.Fatalf("SetRole: %v %v", u, err)
		}
		_, err = a.SetRole(ctx, "nope", "admin", t0)
		wantErr(t, "SetRole unknown", err, storage.ErrNotFound)

		u, err = a.SetClaims(ctx, alice.ID, map[string]json.RawMessage{"stage": json.RawMessage(`3`), "course": json.RawMessage(`"py"`)}, false, t0)
		if err != nil || string(u.Claims["stage"]) != "3" || string(u.Claims["course"]) != `"py"` {
			t.Fatalf("SetClaims: %v %v", u, err)
		}
		u, err = a.SetClaims(ctx, alice.ID, map[string]json.RawMessage{"stage": json.RawMessage(` 4 `), "course": json.RawMessage(`null`)}, true, t0)
		if err != nil || string(u.Claims["stage"]) != "4" || u.Claims["course"] != nil {
			t.Fatalf("SetClaims merge: %+v %v", u.Claims, err)
		}
		_, err = a.SetClaims(ctx, alice.ID, map[string]json.RawMessage{"big": json.RawMessage(`"` + strings.Repeat("x", storage.MaxClaimsBytes) + `"`)}, true, t0)
		wantErr(t, "oversized claims", err, storage.ErrClaimsTooLarge)
		if u, _ = s.UserByID(ctx, alice.ID); string(u.Claims["stage"]) != "4" || len(u.Claims) != 1 {
			t.Fatalf("claims after a refused write: %v", u.Claims)
		}
		_, err = a.SetClaims(ctx, "nope", nil, true, t0)
		wantErr(t, "SetClaims unknown", err, storage.ErrNotFound)

		if u, err = a.MarkEmailVerified(ctx, alice.ID, t0); err != nil || !u.EmailVerified {
			t.Fatalf("MarkEmailVerified: %v %v", u, err)
		}
	})
}

func TestAdminBanRevokeDelete(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		a := s.(storage.Admin)
		u := newUser(t, s, "mallory@example.com")
		if _, err := s.CreateSession(ctx, "session-hash", storage.Session{UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		is := newFamily(t, s, u)
		if access, refresh := live(t, s, is, t0); !access || !refresh {
			t.Fatal("family not live")
		}

		banned, err := a.BanUser(ctx, u.ID, "spam", t0.Add(time.Hour), t0)
		if err != nil || !banned.IsBanned(t0) || banned.BanReason != "spam" || !banned.BanExpires.Equal(t0.Add(time.Hour)) {
			t.Fatalf("BanUser: %+v %v", banned, err)
		}
		if access, refresh := live(t, s, is, t0); access || refresh {
			t.Fatal("a ban left tokens live")
		}
		if n := count(t, db, "sessions", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d sessions after a ban", n)
		}
		if _, _, err := s.RotateRefresh(ctx, is.RefreshHash, "web", t0, nil, newIssue()); err == nil {
			t.Fatal("a banned user's refresh token rotated")
		}
		if u2, err := a.UnbanUser(ctx, u.ID, t0); err != nil || u2.Banned || u2.BanReason != "" || !u2.BanExpires.IsZero() {
			t.Fatalf("UnbanUser: %+v %v", u2, err)
		}
		_, err = a.BanUser(ctx, "nope", "", time.Time{}, t0)
		wantErr(t, "ban unknown", err, storage.ErrNotFound)

		if _, err := s.CreateSession(ctx, "session-2", storage.Session{UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		is = newFamily(t, s, u)
		if n, err := a.RevokeUserSessions(ctx, u.ID, t0); err != nil || n != 1 {
			t.Fatalf("RevokeUserSessions: %d %v", n, err)
		}
		if access, refresh := live(t, s, is, t0); access || refresh {
			t.Fatal("revoking sessions left tokens live")
		}
		_, err = a.RevokeUserSessions(ctx, "nope", t0)
		wantErr(t, "revoke unknown", err, storage.ErrNotFound)

		if err := a.DeleteUser(ctx, u.ID, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleted user still there: %v", err)
		}
		if n := count(t, db, "accounts", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d accounts after delete", n)
		}
		wantErr(t, "delete again", a.DeleteUser(ctx, u.ID, t0), storage.ErrNotFound)
	})
}

func TestAdminEvents(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		a := s.(storage.Admin)
		for i, e := range []storage.Event{
			{Event: "sign_in", Outcome: "success", UserID: "u1"},
			{Event: "sign_in", Outcome: "failure", UserID: "u2"},
			{Event: "role_changed", Outcome: "success", UserID: "u1", ActorID: "admin1"},
		} {
			e.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			if err := s.RecordEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := a.ListEvents(ctx, storage.EventQuery{})
		if err != nil || len(evs) != 3 || evs[0].Event != "role_changed" || evs[0].ActorID != "admin1" {
			t.Fatalf("ListEvents: %+v %v", evs, err)
		}
		if evs, _ = a.ListEvents(ctx, storage.EventQuery{UserID: "u1"}); len(evs) != 2 {
			t.Fatalf("by user: %d", len(evs))
		}
		if evs, _ = a.ListEvents(ctx, storage.EventQuery{Event: "sign_in", UserID: "u2"}); len(evs) != 1 || evs[0].Outcome != "failure" {
			t.Fatalf("by type and user: %+v", evs)
		}
		if evs, _ = a.ListEvents(ctx, storage.EventQuery{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute)}); len(evs) != 1 || evs[0].UserID != "u2" {
			t.Fatalf("time range: %+v", evs)
		}
		if evs, _ = a.ListEvents(ctx, storage.EventQuery{Limit: 1, Offset: 1}); len(evs) != 1 || evs[0].UserID != "u2" {
			t.Fatalf("page: %+v", evs)
		}
	})
}
