package storage_test

// The conformance suite: every method of storage.Storage, the same test
// bodies on SQLite and on PostgreSQL, each test on a database of its own
// (so the tests run in parallel). grants_test.go holds the codes, refresh
// tokens and access tokens, and the races.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/oidc" // registers the provider's migrations with the store
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// t0 is the suite's clock; tests move it by hand.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// onEachDatabase runs body on a fresh, migrated SQLite database and a fresh
// PostgreSQL schema, in parallel with the other tests.
func onEachDatabase(t *testing.T, body func(t *testing.T, s storage.Storage, db *store.DB)) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		body(t, storage.New(db), db)
	})
}

// newUser creates a user with a password credential.
func newUser(t *testing.T, s storage.Storage, email string) *storage.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), storage.User{Email: email, Name: "Test " + email, CreatedAt: t0, UpdatedAt: t0}, "hash-of-"+email)
	if err != nil {
		t.Fatalf("creating %s: %v", email, err)
	}
	return u
}

// count is the number of rows of table matching where (test-only SQL).
func count(t *testing.T, db *store.DB, table, where string, args ...any) int {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := storage.NewID()
		if len(id) != 32 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" || seen[id] {
			t.Fatalf("id %q: not 32 alphanumerics, or repeated", id)
		}
		seen[id] = true
	}
}

func TestUserIsBanned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		u    storage.User
		want bool
	}{
		{storage.User{}, false},
		{storage.User{Banned: true}, true},
		{storage.User{Banned: true, BanExpires: t0.Add(time.Minute)}, true},
		{storage.User{Banned: true, BanExpires: t0}, false},
		{storage.User{Banned: true, BanExpires: t0.Add(-time.Minute)}, false},
	} {
		if got := tc.u.IsBanned(t0); got != tc.want {
			t.Errorf("%+v.IsBanned = %v, want %v", tc.u, got, tc.want)
		}
	}
}

func TestUsers(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u, err := s.CreateUser(ctx, storage.User{Email: "ada@example.com", Name: "Ada", Image: "https://img.test/ada.png",
			EmailVerified: true, CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}, "$argon2id$first")
		if err != nil {
			t.Fatal(err)
		}
		if len(u.ID) != 32 || u.Role != "student" {
			t.Fatalf("created %+v: want a new id and the role student", u)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "ada@example.com" || got.Name != "Ada" || got.Image != "https://img.test/ada.png" || !got.EmailVerified ||
			got.Role != "student" || got.Banned || !got.BanExpires.IsZero() || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("read back %+v", got)
		}
		withPassword, hash, err := s.UserWithPassword(ctx, "ada@example.com")
		if err != nil || withPassword.ID != u.ID || hash != "$argon2id$first" {
			t.Fatalf("UserWithPassword: %+v %q %v", withPassword, hash, err)
		}

		_, err = s.CreateUser(ctx, storage.User{Email: "ada@example.com", CreatedAt: t0, UpdatedAt: t0}, "x")
		wantErr(t, "second user with one e-mail address", err, storage.ErrEmailTaken)
		if n := count(t, db, "accounts", ""); n != 1 {
			t.Fatalf("%d accounts after a refused sign-up, want 1 (the refusal must roll back)", n)
		}

		if err := s.SetPassword(ctx, u.ID, "$argon2id$second", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, hash, _ := s.UserWithPassword(ctx, "ada@example.com"); hash != "$argon2id$second" {
			t.Fatalf("hash after SetPassword: %q", hash)
		}
		wantErr(t, "SetPassword of an unknown user", s.SetPassword(ctx, "nobody", "x", t0), storage.ErrNotFound)

		// A user without a password credential (signed up elsewhere).
		if _, err := db.Exec(ctx, "DELETE FROM accounts WHERE user_id = ?", u.ID); err != nil {
			t.Fatal(err)
		}
		if _, hash, err := s.UserWithPassword(ctx, "ada@example.com"); err != nil || hash != "" {
			t.Fatalf("user without a credential: %q %v", hash, err)
		}

		_, err = s.UserByID(ctx, "nobody")
		wantErr(t, "UserByID of an unknown id", err, storage.ErrNotFound)
		_, _, err = s.UserWithPassword(ctx, "nobody@example.com")
		wantErr(t, "UserWithPassword of an unknown address", err, storage.ErrNotFound)
	})
}

func TestSessions(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "sess@example.com")
		created, err := s.CreateSession(ctx, "hash-1", storage.Session{UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(time.Hour),
			IP: "203.0.113.7", UserAgent: "test/1.0", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if len(created.ID) != 32 {
			t.Fatalf("session id %q", created.ID)
		}
		got, err := s.Session(ctx, "hash-1", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != created.ID || got.UserID != u.ID || !got.AuthTime.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) ||
			got.IP != "203.0.113.7" || got.UserAgent != "test/1.0" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("read back %+v, want %+v", got, created)
		}
		_, err = s.Session(ctx, "hash-1", t0.Add(time.Hour))
		wantErr(t, "Session at its expiry", err, storage.ErrNotFound)
		_, err = s.Session(ctx, "unknown", t0)
		wantErr(t, "unknown Session", err, storage.ErrNotFound)

		// Sign-out races: of several deletes of one session, one reports it.
		var wg sync.WaitGroup
		var mu sync.Mutex
		deleted := 0
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := s.DeleteSession(ctx, "hash-1")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					deleted++
					if d.ID != created.ID || d.UserID != u.ID {
						t.Errorf("deleted %+v", d)
					}
				case !errors.Is(err, storage.ErrNotFound):
					t.Errorf("DeleteSession: %v", err)
				}
			}()
		}
		wg.Wait()
		if deleted != 1 {
			t.Fatalf("%d deletes reported the session, want 1", deleted)
		}
		_, err = s.Session(ctx, "hash-1", t0)
		wantErr(t, "Session after sign-out", err, storage.ErrNotFound)
	})
}

func TestAuthRequests(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		r := storage.AuthRequest{ID: "req-1", ClientID: "web", Params: `{"scopes":["openid"]}`, CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
		if err := s.CreateAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.AuthRequest(ctx, "req-1", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != r.ID || got.ClientID != r.ClientID || got.Params != r.Params || !got.CreatedAt.Equal(r.CreatedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) {
			t.Fatalf("read back %+v, want %+v", got, r)
		}
		_, err = s.AuthRequest(ctx, "req-1", t0.Add(30*time.Minute))
		wantErr(t, "AuthRequest at its expiry", err, storage.ErrNotFound)
		_, err = s.AuthRequest(ctx, "unknown", t0)
		wantErr(t, "unknown AuthRequest", err, storage.ErrNotFound)
		if err := s.DeleteAuthRequest(ctx, "req-1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.AuthRequest(ctx, "req-1", t0)
		wantErr(t, "AuthRequest after delete", err, storage.ErrNotFound)
		if err := s.DeleteAuthRequest(ctx, "req-1"); err != nil {
			t.Fatalf("deleting a missing request: %v", err)
		}
	})
}

func TestConsents(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "consent@example.com")
		_, err := s.ConsentedScopes(ctx, u.ID, "web")
		wantErr(t, "consent never given", err, storage.ErrNotFound)
		if err := s.SaveConsent(ctx, u.ID, "web", []string{"openid", "email"}, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ConsentedScopes(ctx, u.ID, "web"); err != nil || !slices.Equal(got, []string{"openid", "email"}) {
			t.Fatalf("consented %v %v", got, err)
		}
		if err := s.SaveConsent(ctx, u.ID, "web", []string{"openid", "profile", "offline_access"}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ConsentedScopes(ctx, u.ID, "web"); !slices.Equal(got, []string{"openid", "profile", "offline_access"}) {
			t.Fatalf("a second consent did not replace the first: %v", got)
		}
		if n := count(t, db, "oidc_consents", ""); n != 1 {
			t.Fatalf("%d consent rows, want 1", n)
		}
		_, err = s.ConsentedScopes(ctx, u.ID, "other")
		wantErr(t, "consent for another client", err, storage.ErrNotFound)
	})
}

func TestEvents(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		e := storage.Event{CreatedAt: t0, Event: "sign_in", Outcome: "failure", UserID: "u1", Email: "e@example.com",
			ClientID: "web", IP: "203.0.113.7", UserAgent: "test/1.0", Detail: "invalid e-mail or password"}
		if err := s.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordEvent(ctx, storage.Event{ID: "chosen", CreatedAt: t0, Event: "sign_out", Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
		var got storage.Event
		var created int64
		if err := db.QueryRow(ctx, `SELECT id, created_at, event, outcome, user_id, email, client_id, ip, user_agent, detail
			FROM auth_events WHERE event = 'sign_in'`).Scan(&got.ID, &created, &got.Event, &got.Outcome, &got.UserID, &got.Email,
			&got.ClientID, &got.IP, &got.UserAgent, &got.Detail); err != nil {
			t.Fatal(err)
		}
		if !time.UnixMilli(created).Equal(e.CreatedAt) {
			t.Fatalf("created_at %d, want %v", created, e.CreatedAt)
		}
		e.ID, e.CreatedAt = got.ID, time.Time{}
		if len(got.ID) != 32 || got != e {
			t.Fatalf("recorded %+v, want %+v", got, e)
		}
		if n := count(t, db, "auth_events", "id = 'chosen'"); n != 1 {
			t.Fatal("an event's own id was not kept")
		}
	})
}

func TestSigningKeys(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 0 {
			t.Fatalf("keys of a new database: %v %v", keys, err)
		}
		key := func(kid string, from time.Time) storage.SigningKey {
			return storage.SigningKey{KID: kid, Alg: "ES256", PublicJWK: `{"kid":"` + kid + `"}`, SealedKey: "sealed-" + kid,
				CreatedAt: from.Add(-time.Hour), SignFrom: from, SignUntil: from.Add(24 * time.Hour), PublishUntil: from.Add(48 * time.Hour)}
		}
		a, b := key("a", t0), key("b", t0.Add(24*time.Hour))
		keys, err := s.RotateKeys(ctx, t0, func(current []storage.SigningKey) ([]storage.SigningKey, error) {
			if len(current) != 0 {
				t.Errorf("plan saw %v in a new database", current)
			}
			return []storage.SigningKey{b, a}, nil
		})
		if err != nil || len(keys) != 2 || !sameKey(keys[0], a) || !sameKey(keys[1], b) {
			t.Fatalf("RotateKeys returned %+v, %v (want a then b)", keys, err)
		}
		stored, err := s.SigningKeys(ctx)
		if err != nil || len(stored) != 2 || !sameKey(stored[0], a) || !sameKey(stored[1], b) {
			t.Fatalf("SigningKeys: %+v %v", stored, err)
		}

		// Nothing to add: the set is returned as it is.
		keys, err = s.RotateKeys(ctx, t0.Add(time.Hour), func(current []storage.SigningKey) ([]storage.SigningKey, error) {
			return nil, nil
		})
		if err != nil || len(keys) != 2 {
			t.Fatalf("RotateKeys without a change: %v %v", keys, err)
		}

		// A plan that fails changes nothing, not even the deletion of
		// expired keys.
		boom := errors.New("boom")
		_, err = s.RotateKeys(ctx, a.PublishUntil, func([]storage.SigningKey) ([]storage.SigningKey, error) { return nil, boom })
		wantErr(t, "failing plan", err, boom)
		if n := count(t, db, "oidc_signing_keys", ""); n != 2 {
			t.Fatalf("%d keys after a failed plan, want 2", n)
		}

		// Once a key's publication has ended it is deleted before the plan
		// runs.
		c := key("c", b.SignUntil)
		keys, err = s.RotateKeys(ctx, a.PublishUntil, func(current []storage.SigningKey) ([]storage.SigningKey, error) {
			if len(current) != 1 || current[0].KID != "b" {
				t.Errorf("plan saw %+v, want only b", current)
			}
			return []storage.SigningKey{c}, nil
		})
		if err != nil || len(keys) != 2 || keys[0].KID != "b" || keys[1].KID != "c" {
			t.Fatalf("after a's publication: %+v %v", keys, err)
		}
	})
}

// sameKey compares keys field by field, times with Equal.
func sameKey(a, b storage.SigningKey) bool {
	return a.KID == b.KID && a.Alg == b.Alg && a.PublicJWK == b.PublicJWK && a.SealedKey == b.SealedKey &&
		a.CreatedAt.Equal(b.CreatedAt) && a.SignFrom.Equal(b.SignFrom) && a.SignUntil.Equal(b.SignUntil) &&
		a.PublishUntil.Equal(b.PublishUntil)
}

// TestRotateKeysRace: nodes that find no key at the same time create one
// between them, because RotateKeys runs their plans one at a time.
func TestRotateKeysRace(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.RotateKeys(ctx, t0, func(current []storage.SigningKey) ([]storage.SigningKey, error) {
					if len(current) > 0 {
						return nil, nil
					}
					kid := "node-" + string(rune('a'+i))
					return []storage.SigningKey{{KID: kid, Alg: "ES256", PublicJWK: "{}", SealedKey: "x", CreatedAt: t0,
						SignFrom: t0, SignUntil: t0.Add(time.Hour), PublishUntil: t0.Add(2 * time.Hour)}}, nil
				})
				if err != nil {
					t.Errorf("RotateKeys: %v", err)
				}
			}()
		}
		wg.Wait()
		if n := count(t, db, "oidc_signing_keys", ""); n != 1 {
			t.Fatalf("%d keys after concurrent first starts, want 1", n)
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		u := newUser(t, s, "sweep@example.com")
		now := t0.Add(time.Hour)
		for i, expires := range []time.Time{now.Add(-time.Millisecond), now.Add(time.Minute)} {
			name := []string{"old", "new"}[i]
			if err := s.CreateAuthRequest(ctx, storage.AuthRequest{ID: name, ClientID: "web", Params: "{}", CreatedAt: t0, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateSession(ctx, "session-"+name, storage.Session{UserID: u.ID, AuthTime: t0, ExpiresAt: expires, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, "INSERT INTO verifications (id, identifier, value, expires_at, created_at, updated_at) VALUES (?, 'reset', 'x', ?, 0, 0)",
				name, expires.UnixMilli()); err != nil {
				t.Fatal(err)
			}
			// A redeemed code leaves an access and a refresh token, with
			// the same expiry as the code here.
			code := storage.Code{Hash: "code-" + name, ClientID: "web", UserID: u.ID, SessionID: "s", Scopes: []string{"openid"},
				AuthTime: t0, CreatedAt: t0, ExpiresAt: expires}
			if err := s.CreateCode(ctx, code); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.RedeemCode(ctx, code.Hash, "web", t0, nil, storage.Issue{AccessJTI: "jti-" + name, AccessExpires: expires,
				RefreshHash: "refresh-" + name, RefreshExpires: expires}); err != nil {
				t.Fatal(err)
			}
		}
		// Used refresh tokens stay until they expire (reuse detection).
		if _, _, err := s.RotateRefresh(ctx, "refresh-new", "web", t0, nil, storage.Issue{AccessJTI: "jti-next",
			AccessExpires: now.Add(time.Minute), RefreshHash: "refresh-next", RefreshExpires: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteExpired(ctx, now); err != nil {
			t.Fatal(err)
		}
		for table, want := range map[string]int{"oidc_codes": 1, "oidc_auth_requests": 1, "oidc_access_tokens": 2,
			"oidc_refresh_tokens": 2, "sessions": 1, "verifications": 1} {
			if n := count(t, db, table, ""); n != want {
				t.Errorf("%s: %d rows after the sweep, want %d", table, n, want)
			}
		}
		if n := count(t, db, "oidc_refresh_tokens", "token_hash = 'refresh-new'"); n != 1 {
			t.Error("the sweep deleted a used refresh token that has not expired")
		}
		if err := s.DeleteExpired(ctx, now); err != nil {
			t.Fatalf("a second sweep: %v", err)
		}
	})
}
