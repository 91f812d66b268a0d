package oidc

import (
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
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
