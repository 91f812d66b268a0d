package oidc

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/internal/testutil"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`oidc_provider {
		issuer https://learn.example.com
		client web {
			redirect_uri https://learn.example.com/cb https://learn.example.com/cb2
			post_logout_redirect_uri https://learn.example.com/bye
			secret {env.WEB_SECRET}
			scope openid email
			skip_consent
			name "Learn"
		}
		client spa {
			redirect_uri http://127.0.0.1:5173/cb
			public
		}
		access_token_ttl 1h
		refresh_token_ttl 48h
		id_token_ttl 30m
		code_ttl 30s
		session_ttl 24h
		signing_alg EdDSA
		key_rotation 240h
		key_publish_ahead 12h
		audience api.example.com other
		templates /etc/pages
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Issuer: "https://learn.example.com",
		Clients: []*Client{
			{ID: "web", RedirectURIs: []string{"https://learn.example.com/cb", "https://learn.example.com/cb2"},
				PostLogoutRedirectURIs: []string{"https://learn.example.com/bye"}, Secret: "{env.WEB_SECRET}",
				Scopes: []string{"openid", "email"}, SkipConsent: true, Name: "Learn"},
			{ID: "spa", RedirectURIs: []string{"http://127.0.0.1:5173/cb"}, Public: true},
		},
		AccessTokenTTL: caddy.Duration(time.Hour), RefreshTokenTTL: caddy.Duration(48 * time.Hour),
		IDTokenTTL: caddy.Duration(30 * time.Minute), CodeTTL: caddy.Duration(30 * time.Second),
		SessionTTL: caddy.Duration(24 * time.Hour), SigningAlg: "EdDSA", KeyRotation: caddy.Duration(240 * time.Hour),
		KeyPublishAhead: caddy.Duration(12 * time.Hour), Audience: []string{"api.example.com", "other"}, Templates: "/etc/pages",
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	t.Parallel()
	for _, input := range []string{
		`oidc_provider extra`,
		`oidc_provider { issuer }`,
		`oidc_provider { issuer a b }`,
		`oidc_provider { issuer a
			issuer b }`,
		`oidc_provider { bogus }`,
		`oidc_provider { access_token_ttl soon }`,
		`oidc_provider { access_token_ttl -1h }`,
		`oidc_provider { signing_alg HS256 }`,
		`oidc_provider { client }`,
		`oidc_provider { client web { public
			secret x } }`,
		`oidc_provider { client web { bogus } }`,
		`oidc_provider { client web { redirect_uri } }`,
		`oidc_provider { audience }`,
	} {
		input = strings.ReplaceAll(strings.ReplaceAll(input, "{ ", "{\n"), " }", "\n}")
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("no error for %q", input)
		}
	}
}

// TestProvisionRefusesBadConfigs: placeholders and cross-field rules are
// checked when the config loads, the same for JSON and Caddyfile users.
func TestProvisionRefusesBadConfigs(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"no issuer":        {"client web {\nredirect_uri https://a.test/cb\npublic\n}", "issuer is required"},
		"http issuer":      {"issuer http://learn.example.com", "must use https"},
		"issuer query":     {"issuer https://learn.example.com/?x=1", "without query"},
		"empty secret":     {"issuer https://a.test\nclient web {\nredirect_uri https://a.test/cb\nsecret {env.OIDC_UNSET_SECRET}\n}", "expanded to an empty value"},
		"no redirect":      {"issuer https://a.test\nclient web {\npublic\n}", "redirect_uri is required"},
		"fragment":         {"issuer https://a.test\nclient web {\nredirect_uri https://a.test/cb#x\npublic\n}", "fragment"},
		"http redirect":    {"issuer https://a.test\nclient web {\nredirect_uri http://a.test/cb\npublic\n}", "loopback"},
		"javascript":       {"issuer https://a.test\nclient web {\nredirect_uri javascript:alert(1)\npublic\n}", "absolute"},
		"neither":          {"issuer https://a.test\nclient web {\nredirect_uri https://a.test/cb\n}", "exactly one of"},
		"duplicate client": {"issuer https://a.test\nclient web {\nredirect_uri https://a.test/cb\npublic\n}\nclient web {\nredirect_uri https://a.test/cb\npublic\n}", "declared twice"},
		"bad scope":        {"issuer https://a.test\nclient web {\nredirect_uri https://a.test/cb\npublic\nscope admin\n}", "unsupported scope"},
		"lead > rotation":  {"issuer https://a.test\nkey_rotation 1h\nkey_publish_ahead 2h", "shorter than key_rotation"},
	} {
		t.Run(name, func(t *testing.T) {
			err := testutil.TryStartCaddy(t, "http://localhost {\n\toidc_provider {\n"+tc.body+"\n\t}\n}\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The golden files pin the Caddyfile syntax, the JSON it adapts to, and that
// oidc_provider runs before authentication, handle blocks and responders.
func TestAdaptGolden(t *testing.T) {
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}

func TestUnmarshalBruteForceOptions(t *testing.T) {
	t.Parallel()
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`oidc_provider {
		issuer https://id.test
		lockout 10 1h
		ip_limit 100 per 10m
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.LockoutFailures != 10 || h.LockoutWindow != caddy.Duration(time.Hour) || h.IPLimit != 100 || h.IPLimitWindow != caddy.Duration(10*time.Minute) {
		t.Fatalf("parsed %+v", h)
	}
	var off Handler
	if err := off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oidc_provider {\n lockout off\n ip_limit off\n}")); err != nil || off.LockoutFailures != -1 || off.IPLimit != -1 {
		t.Fatalf("off: %v %+v", err, off)
	}
	for _, bad := range []string{"lockout 5", "lockout zero 1h", "lockout 5 soon", "ip_limit 5 1m", "ip_limit 0 per 1m", "ip_limit 5 per never"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oidc_provider {\n " + bad + "\n}")); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
