package oidc

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The signed-cookie vector of Better-Auth 1.7.25 (docs: better-auth-api
// §8.1): the API's cookies and Better-Auth's are the same bytes.
func TestBetterAuthCookieVector(t *testing.T) {
	a := &baRequest{h: &BetterAuthAPI{secret: []byte("anchor-dev-secret-0123456789abcdefghijklmnopqrstuvwxyz")}}
	got, err := a.signCookie("J9q8hJq60xq2ylkuWoKWnLgjKjOjkfSL")
	if err != nil {
		t.Fatal(err)
	}
	if want := "J9q8hJq60xq2ylkuWoKWnLgjKjOjkfSL.r7L15W4AKu1l7Tq%2B7Kp%2FYHS9y9miAGc6OKTBvSdwmOs%3D"; got != want {
		t.Fatalf("signed cookie %s, want %s", got, want)
	}
}

func TestBetterAuthWildcardOrigins(t *testing.T) {
	for _, c := range []struct {
		pattern, origin string
		want            bool
	}{
		{"https://app.test", "https://app.test", true},
		{"https://app.test", "https://app.test.evil", false},
		{"https://*.course.test", "https://a.course.test", true},
		{"https://*.course.test", "https://course.test", false},
		{"https://*.course.test", "https://a.course.test.evil.test", false},
		{"http://localhost:*", "http://localhost:3000", true},
	} {
		if got := wildcardMatch(c.pattern, c.origin); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", c.pattern, c.origin, got)
		}
	}
}

func TestBetterAuthCaddyfileErrors(t *testing.T) {
	for _, in := range []string{
		"better_auth_api /a /b",
		"better_auth_api {\n provider\n}",
		"better_auth_api {\n trusted_origins\n}",
		"better_auth_api {\n hide_existing_users yes\n}",
		"better_auth_api {\n change_email on\n}",
		"better_auth_api {\n delete_user yes\n}",
		"better_auth_api {\n secret a b\n}",
		"better_auth_api {\n nope\n}",
	} {
		var h BetterAuthAPI
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	var h BetterAuthAPI
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("better_auth_api /auth {\n trusted_origins https://a.test https://b.test\n cookie_domain a.test\n change_email\n delete_user\n}")); err != nil {
		t.Fatal(err)
	}
	if h.BasePath != "/auth" || len(h.TrustedOrigins) != 2 || h.CookieDomain != "a.test" || !h.ChangeEmail || !h.DeleteUser {
		t.Fatalf("%s %v %s %v %v", h.BasePath, h.TrustedOrigins, h.CookieDomain, h.ChangeEmail, h.DeleteUser)
	}
	var off BetterAuthAPI
	if err := off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("better_auth_api")); err != nil || off.ChangeEmail || off.DeleteUser {
		t.Fatalf("defaults: %v %v %v", err, off.ChangeEmail, off.DeleteUser)
	}
}
