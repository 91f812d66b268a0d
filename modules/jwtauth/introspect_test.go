package jwtauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// bearer_jwt with a remote key source (jwks_url) cannot see an issuer's
// revocations; with introspect it asks the issuer's RFC 7662 endpoint (here
// the platform's own provider, over plain HTTP on the same Caddy) and
// refuses a revoked token once the cached answer expires.
func TestIntrospectionRefusesRevokedTokens(t *testing.T) {
	provider := `oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client web {
			redirect_uri https://localhost:__HTTPS_PORT__/auth/callback
			public
			skip_consent
		}
		client api {
			redirect_uri https://api.test/unused
			secret api-secret-0123456789
			introspect
		}
	}`
	c := testutil.StartCaddy(t, `https://localhost {
	`+provider+`
	handle /api {
		bearer_jwt {
			issuer https://localhost:__HTTPS_PORT__
			jwks_url http://localhost:__HTTP_PORT__/jwks
			introspect http://localhost:__HTTP_PORT__/oauth2/introspect {
				client_id api
				client_secret api-secret-0123456789
				cache 200ms
			}
		}
		respond "api {http.auth.user.id}"
	}
	handle {
		respond "front end"
	}
}

http://localhost:__HTTP_PORT__ {
	`+provider+`
}`)
	access, _ := signUpForTokens(t, c)
	if r := getWithToken(t, c, "/api", access); r.status != 200 {
		t.Fatalf("active token: %d %q", r.status, r.body)
	}
	resp, err := c.Client.PostForm(c.URL("/oauth2/revoke"), url.Values{"token": {access}, "client_id": {"web"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := getWithToken(t, c, "/api", access)
		if r.status == http.StatusUnauthorized && r.reason == "revoked" {
			return
		}
		if r.status != 200 || time.Now().After(deadline) {
			t.Fatalf("revoked token: %d %q", r.status, strings.TrimSpace(r.body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
