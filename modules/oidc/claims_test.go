package oidc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

func TestParseRoles(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"admin": "admin", "instructor, student": "student,instructor", "admin admin": "admin",
		"": "", "user": "", "root": "", "student,": "student",
	} {
		got, err := parseRoles([]string{in})
		if got != want || (want == "") != (err != nil) {
			t.Errorf("parseRoles(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if !hasRole("student,admin", "admin") || hasRole("administrator", "admin") {
		t.Error("hasRole")
	}
}

func TestClaimNames(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"stage", "course", "org.unit", "x_1"} {
		if err := checkClaimName(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sub", "role", "email", "1abc", "a b", strings.Repeat("a", 65), "é"} {
		if checkClaimName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := checkClaims(map[string]json.RawMessage{"stage": json.RawMessage(`{bad`)}); err == nil {
		t.Error("malformed JSON accepted")
	}
	if err := checkClaims(map[string]json.RawMessage{"big": json.RawMessage(`"` + strings.Repeat("x", storage.MaxClaimsBytes) + `"`)}); err == nil {
		t.Error("oversized claims accepted")
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	p := &provider{claims: []string{"stage", "course"}}
	u := &storage.User{Claims: map[string]json.RawMessage{"stage": json.RawMessage(`3`), "other": json.RawMessage(`1`)}}
	b, err := json.Marshal(&accessClaims{Sub: "u1", Role: "student", extra: p.tokenClaims(u)})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if m["stage"] != float64(3) || m["sub"] != "u1" || m["role"] != "student" || m["other"] != nil || m["course"] != nil {
		t.Fatalf("claims %s", b)
	}
	if got := p.tokenClaims(&storage.User{}); got != nil {
		t.Fatalf("no claims: %v", got)
	}
}

func TestCaddyfileClaims(t *testing.T) {
	t.Parallel()
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oidc_provider {\n claims stage course\n}")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Claims, " ") != "stage course" {
		t.Fatalf("claims %v", h.Claims)
	}
	for _, bad := range []string{"oidc_provider {\n claims\n}", "oidc_provider {\n claims sub\n}"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
