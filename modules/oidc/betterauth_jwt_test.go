package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// The jwt plugin's token is reused while it has more than half its life
// left and its claims are unchanged; a changed claim or an older token
// makes a new one.
func TestBetterAuthJWTReuse(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		clockOffset.Store(0)
		t.Cleanup(func() { clockOffset.Store(0) })
		c := startBetterAuth(t, database, t.TempDir(), "")
		a := newBAClient(t, c)
		a.call("POST", "/sign-up/email", map[string]any{"name": "A", "email": "jwt@example.com", "password": testPassword}).want(t, 200, "")
		token := func() string {
			t.Helper()
			tok, _ := a.call("GET", "/token", nil).want(t, 200, "").body["token"].(string)
			if tok == "" {
				t.Fatal("no token")
			}
			return tok
		}
		first := token()
		if hdr := a.call("GET", "/get-session", nil).header.Get("Set-Auth-Jwt"); hdr != first {
			t.Fatalf("get-session's set-auth-jwt is not the token just issued")
		}
		advanceClock(7 * time.Minute)
		if token() != first {
			t.Fatal("a token with 8 of its 15 minutes left was not reused")
		}
		a.call("POST", "/update-user", map[string]any{"name": "A. Changed"}).want(t, 200, "")
		renamed := token()
		if renamed == first || decodeJWT(t, renamed).payload["name"] != "A. Changed" {
			t.Fatal("a changed name kept the old token")
		}
		advanceClock(8 * time.Minute)
		if token() == renamed {
			t.Fatal("a token past half its life was reused")
		}
	})
}

// Every field the token carries, and the signing key and issuer, change
// the reuse cache's key; the same values always give the same key.
func TestBAJWTKeyCoversTheClaims(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	base := storage.User{ID: "u1", Name: "Ada", Email: "ada@example.com", Image: "https://img.example/a.png", Role: "student",
		BanReason: "", EmailVerified: true, CreatedAt: at, UpdatedAt: at}
	want := baJWTKey("kid1", "https://issuer", &base)
	if again := baJWTKey("kid1", "https://issuer", &base); again != want {
		t.Fatal("the same user gives two keys")
	}
	changes := map[string]func(u *storage.User) (kid, iss string){
		"kid":    func(u *storage.User) (string, string) { return "kid2", "https://issuer" },
		"issuer": func(u *storage.User) (string, string) { return "kid1", "https://other" },
		"id":     func(u *storage.User) (string, string) { u.ID = "u2"; return "kid1", "https://issuer" },
		"name":   func(u *storage.User) (string, string) { u.Name = "Ad"; return "kid1", "https://issuer" },
		"name/email cut": func(u *storage.User) (string, string) {
			u.Name, u.Email = "Adaa", "da@example.com"
			return "kid1", "https://issuer"
		},
		"email":      func(u *storage.User) (string, string) { u.Email = "b@example.com"; return "kid1", "https://issuer" },
		"image":      func(u *storage.User) (string, string) { u.Image = ""; return "kid1", "https://issuer" },
		"role":       func(u *storage.User) (string, string) { u.Role = "admin"; return "kid1", "https://issuer" },
		"ban reason": func(u *storage.User) (string, string) { u.BanReason = "spam"; return "kid1", "https://issuer" },
		"verified":   func(u *storage.User) (string, string) { u.EmailVerified = false; return "kid1", "https://issuer" },
		"banned":     func(u *storage.User) (string, string) { u.Banned = true; return "kid1", "https://issuer" },
		"ban expiry": func(u *storage.User) (string, string) { u.BanExpires = at; return "kid1", "https://issuer" },
		"updated": func(u *storage.User) (string, string) {
			u.UpdatedAt = at.Add(time.Millisecond)
			return "kid1", "https://issuer"
		},
		"created": func(u *storage.User) (string, string) {
			u.CreatedAt = at.Add(-time.Second)
			return "kid1", "https://issuer"
		},
	}
	for name, change := range changes {
		u := base
		kid, iss := change(&u)
		if baJWTKey(kid, iss, &u) == want {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
}

// cookieMAC reuses keyed hashes per key: a signature checks under its own
// key only, however the calls of two keys interleave.
func TestCookieMACKeepsKeysApart(t *testing.T) {
	sign := func(key []byte, token string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(token))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	k1, k2 := []byte("key-one-0123456789abcdef0123456789"), []byte("key-two-0123456789abcdef0123456789")
	for i := 0; i < 3; i++ {
		token := fmt.Sprintf("token-%d", i)
		s1, s2 := sign(k1, token), sign(k2, token)
		if !cookieMAC(k1, token, s1) || !cookieMAC(k2, token, s2) {
			t.Fatal("a good signature is refused")
		}
		if cookieMAC(k1, token, s2) || cookieMAC(k2, token, s1) || cookieMAC(k1, token+"x", s1) || cookieMAC(k1, token, s1[:10]) {
			t.Fatal("a signature checks under the wrong key or token")
		}
	}
}
