package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"golang.org/x/oauth2"
)

func TestUnmarshalUpstream(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`oidc_provider {
		issuer https://learn.example.com
		upstream google {
			client_id {env.G_ID}
			client_secret {env.G_SECRET}
		}
		upstream uni {
			issuer https://idp.example.org
			client_id learn
			client_secret s3cret
			scopes openid email
			scopes profile
			label "University login"
			trusted_ca /etc/ca.pem
			timeout 5s
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := []*Upstream{
		{Name: "google", ClientID: "{env.G_ID}", ClientSecret: "{env.G_SECRET}"},
		{Name: "uni", Issuer: "https://idp.example.org", ClientID: "learn", ClientSecret: "s3cret",
			Scopes: []string{"openid", "email", "profile"}, Label: "University login", TrustedCA: "/etc/ca.pem",
			Timeout: caddy.Duration(5 * time.Second)},
	}
	if !reflect.DeepEqual(h.Upstreams, want) {
		t.Fatalf("got %+v", h.Upstreams)
	}
	for _, bad := range []string{
		`upstream { client_id a; client_secret b }`,
		`upstream Google {
			client_id a
			client_secret b
		}`,
		`upstream credential {
			issuer https://x.example
			client_id a
			client_secret b
		}`,
		`upstream uni {
			client_id a
			client_secret b
		}`,
		`upstream google {
			client_id a
		}`,
		`upstream google {
			client_id a
			client_id b
			client_secret c
		}`,
		`upstream google {
			client_id a
			client_secret b
			timeout never
		}`,
		`upstream google {
			client_id a
			client_secret b
			colour blue
		}`,
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oidc_provider {\n" + bad + "\n}")); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestProvisionUpstreams(t *testing.T) {
	t.Setenv("UP_TEST_SECRET", "from-env")
	repl := caddy.NewReplacer()
	ups, err := provisionUpstreams(repl, []*Upstream{
		{Name: "google", ClientID: "g", ClientSecret: "{env.UP_TEST_SECRET}"},
		{Name: "github", ClientID: "gh", ClientSecret: "s"},
		{Name: "ghe", Issuer: "https://idp.example.org/", ClientID: "c", ClientSecret: "s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, gh, ghe := ups[0], ups[1], ups[2]
	if g.kind != kindOIDC || g.issuer != "https://accounts.google.com" || g.label != "Google" || g.secret != "from-env" ||
		!reflect.DeepEqual(g.scopes, []string{"openid", "email", "profile"}) || g.client.Timeout != defaultUpstreamTimeout {
		t.Fatalf("google %+v", g)
	}
	if gh.kind != kindGitHub || gh.authURL != "https://github.com/login/oauth/authorize" ||
		gh.tokenURL != "https://github.com/login/oauth/access_token" || gh.apiURL != "https://api.github.com" || gh.label != "GitHub" {
		t.Fatalf("github %+v", gh)
	}
	if ghe.issuer != "https://idp.example.org" || ghe.label != "ghe" {
		t.Fatalf("generic %+v", ghe)
	}
	enterprise, err := provisionUpstreams(repl, []*Upstream{{Name: "github", Issuer: "https://ghe.example.com", ClientID: "a", ClientSecret: "b"}})
	if err != nil || enterprise[0].apiURL != "https://ghe.example.com/api/v3" {
		t.Fatalf("GitHub Enterprise %+v, %v", enterprise, err)
	}
	for name, bad := range map[string][]*Upstream{
		"twice":         {{Name: "google", ClientID: "a", ClientSecret: "b"}, {Name: "google", ClientID: "a", ClientSecret: "b"}},
		"empty secret":  {{Name: "google", ClientID: "a", ClientSecret: "{env.UP_TEST_UNSET}"}},
		"no issuer":     {{Name: "uni", ClientID: "a", ClientSecret: "b"}},
		"http issuer":   {{Name: "uni", Issuer: "http://idp.example.org", ClientID: "a", ClientSecret: "b"}},
		"oidc api_url":  {{Name: "uni", Issuer: "https://idp.example.org", APIURL: "https://x", ClientID: "a", ClientSecret: "b"}},
		"no openid":     {{Name: "uni", Issuer: "https://idp.example.org", Scopes: []string{"email"}, ClientID: "a", ClientSecret: "b"}},
		"missing CA":    {{Name: "uni", Issuer: "https://idp.example.org", TrustedCA: "/nonexistent.pem", ClientID: "a", ClientSecret: "b"}},
		"bad name":      {{Name: "Uni!", Issuer: "https://idp.example.org", ClientID: "a", ClientSecret: "b"}},
		"credential":    {{Name: "credential", Issuer: "https://idp.example.org", ClientID: "a", ClientSecret: "b"}},
		"github in api": {{Name: "github", APIURL: "ftp://x", ClientID: "a", ClientSecret: "b"}},
	} {
		if _, err := provisionUpstreams(repl, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// testProvider is a provider without Caddy for the flow cookie.
func testProvider(secure bool, now time.Time) *provider {
	return &provider{issuer: "https://learn.example.com", secure: secure, now: func() time.Time { return now },
		derive: func(purpose string) ([]byte, error) { return []byte("0123456789abcdef0123456789abcdef"), nil }}
}

func TestFlowCookie(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := testProvider(true, now)
	f := upstreamFlow{Upstream: "google", State: "st", Nonce: "no", Verifier: "ve", RequestID: "rq", Expires: now.Add(time.Minute).UnixMilli()}
	sealed, err := p.sealFlow(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "ve") && strings.Contains(sealed, "no") && len(sealed) < 40 {
		t.Fatal("the cookie is not sealed")
	}
	read := func(value string, at time.Time) *upstreamFlow {
		q := testProvider(true, at)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: "__Host-oidc_upstream", Value: value})
		return q.openFlow(r)
	}
	if got := read(sealed, now); got == nil || *got != f {
		t.Fatalf("opened %+v", got)
	}
	if read(sealed, now.Add(2*time.Minute)) != nil {
		t.Fatal("an expired flow opened")
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if read(string(tampered), now) != nil || read("", now) != nil || read(strings.Repeat("A", 5000), now) != nil {
		t.Fatal("a tampered or malformed cookie opened")
	}
	// Sealed for the non-Secure name, it does not open under the __Host- one.
	plain, _ := testProvider(false, now).sealFlow(f)
	if read(plain, now) != nil {
		t.Fatal("a cookie sealed under another name opened")
	}
}

func TestUpstreamFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		detail string
	}{
		{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
		{&oauth2.RetrieveError{ErrorCode: "invalid_grant", Body: []byte(`{"error":"invalid_grant","access_token":"never-shown"}`)},
			http.StatusBadGateway, "refused: invalid_grant"},
		{&url.Error{Op: "Get", URL: "https://x", Err: errors.New("connection refused")}, http.StatusBadGateway, "unreachable"},
	} {
		status, detail := upstreamFailure(tc.err)
		if status != tc.status || detail != tc.detail {
			t.Errorf("%v: %d %q", tc.err, status, detail)
		}
	}
}

func TestTruthy(t *testing.T) {
	t.Parallel()
	if !truthy(true) || !truthy("true") || truthy("false") || truthy(nil) || truthy(1.0) {
		t.Fatal("email_verified parsing")
	}
}
