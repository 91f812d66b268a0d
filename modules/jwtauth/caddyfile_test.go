package jwtauth

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/intellistack/intellistack/internal/testutil"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	leeway := caddy.Duration(5e9)
	cases := []struct {
		in   string
		want Provider
		err  string
	}{
		{in: `bearer_jwt {
			issuer https://learn.test
			jwks_url https://keys.test/jwks
			audience api chat
			require_role admin instructor
			require_verified_email
			header_up {
				id X-Auth-Sub
				stage X-User-Stage
			}
			allowed_algorithms RS256 ES256
			allow_any_typ
			leeway 5s
			claim stage
			refresh_interval 10m
			min_refresh_interval 1m
			token_cache_size -1
		}`, want: Provider{
			Issuer: "https://learn.test", JWKSURL: "https://keys.test/jwks", Audience: []string{"api", "chat"},
			RequireRoles: []string{"admin", "instructor"}, RequireVerifiedEmail: true, HeaderUp: true,
			HeaderNames:       map[string]string{"id": "X-Auth-Sub", "stage": "X-User-Stage"},
			AllowedAlgorithms: []string{"RS256", "ES256"}, AllowAnyTyp: true, Leeway: &leeway, Claims: []string{"stage"},
			RefreshInterval: caddy.Duration(6e11), MinRefreshInterval: caddy.Duration(6e10), TokenCacheSize: -1,
		}},
		{in: "bearer_jwt {\n issuer https://a\n header_up\n}", want: Provider{Issuer: "https://a", HeaderUp: true}},
		{in: "bearer_jwt extra", err: "wrong argument count"},
		{in: "bearer_jwt {\n issuer\n}", err: "wrong argument count"},
		{in: "bearer_jwt {\n issuer a\n issuer b\n}", err: "already set"},
		{in: "bearer_jwt {\n audience\n}", err: "wrong argument count"},
		{in: "bearer_jwt {\n require_verified_email yes\n}", err: "wrong argument count"},
		{in: "bearer_jwt {\n allow_any_typ yes\n}", err: "wrong argument count"},
		{in: "bearer_jwt {\n header_up {\n id\n }\n}", err: "expected <field> <header-name>"},
		{in: "bearer_jwt {\n leeway soon\n}", err: "not a duration"},
		{in: "bearer_jwt {\n token_cache_size -5\n}", err: "token_cache_size"},
		{in: "bearer_jwt {\n secret x\n}", err: "unrecognized subdirective: secret"},
	}
	for _, tc := range cases {
		var p Provider
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(p, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, p, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	neg := caddy.Duration(-1)
	long := caddy.Duration(6e11)
	cases := []struct {
		p   Provider
		err string
	}{
		{Provider{Issuer: "https://a.test"}, ""},
		{Provider{JWKSURL: "http://127.0.0.1:9/jwks", AllowedAlgorithms: []string{"ES256", "EdDSA", "PS256"}}, ""},
		{Provider{}, "issuer or jwks_url is required"},
		{Provider{Issuer: "learn.test"}, "not an http(s) URL"},
		{Provider{Issuer: "https://a", AllowedAlgorithms: []string{"RS256", "none"}}, `"none" can never be allowed`},
		{Provider{Issuer: "https://a", AllowedAlgorithms: []string{"HS256"}}, `"HS256" can never be allowed`},
		{Provider{Issuer: "https://a", AllowedAlgorithms: []string{"RS1"}}, "unsupported algorithm"},
		{Provider{Issuer: "https://a", Leeway: &neg}, "leeway"},
		{Provider{Issuer: "https://a", Leeway: &long}, "leeway"},
		{Provider{Issuer: "https://a", Claims: []string{"email"}}, "already exposed"},
		{Provider{Issuer: "https://a", Claims: []string{"a-b"}}, "letters, digits"},
		{Provider{Issuer: "https://a", HeaderNames: map[string]string{"stage": "X-Stage"}}, "neither"},
		{Provider{Issuer: "https://a", Claims: []string{"stage"}, HeaderNames: map[string]string{"stage": "X Stage"}}, "not a valid header name"},
		{Provider{Issuer: "https://a", RequireRoles: []string{"a,b"}}, "role"},
		{Provider{Issuer: "https://a", RequireRoles: []string{"a b"}}, "role"},
	}
	for i, tc := range cases {
		err := tc.p.Validate()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("case %d: err = %v, want %q", i, err, tc.err)
		}
	}
}

func TestAdaptGolden(t *testing.T) {
	t.Parallel()
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}
