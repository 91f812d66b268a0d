package identity

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want []string
	}{
		{`"student"`, []string{"student"}},
		{`"student,instructor"`, []string{"student", "instructor"}},
		{`"student instructor"`, []string{"student", "instructor"}},
		{`" student , instructor ,, "`, []string{"student", "instructor"}},
		{`["student","instructor"]`, []string{"student", "instructor"}},
		{`["student instructor","admin","student"]`, []string{"student", "instructor", "admin"}},
		{`""`, nil},
		{`[]`, nil},
		{`42`, nil},
		{`{"role":"admin"}`, nil},
		{`null`, nil},
		{``, nil},
	} {
		if got := ParseRoles(json.RawMessage(tc.raw)); !slices.Equal(got, tc.want) {
			t.Errorf("ParseRoles(%s) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestHasRoleAndClaim(t *testing.T) {
	t.Parallel()
	id := &Identity{ID: "u1", Roles: []string{"student", "instructor"}, Claims: map[string]json.RawMessage{
		"stage": json.RawMessage(`3`), "course": json.RawMessage(`"python-101"`), "none": json.RawMessage(`null`),
	}}
	if !id.HasRole("admin", "instructor") || id.HasRole("admin") {
		t.Fatal("HasRole")
	}
	if v, ok := id.Claim("stage"); !ok || v != "3" {
		t.Fatalf("stage = %q %v", v, ok)
	}
	if v, ok := id.Claim("course"); !ok || v != "python-101" {
		t.Fatalf("course = %q %v", v, ok)
	}
	if _, ok := id.Claim("none"); ok {
		t.Fatal("null claim reported present")
	}
	var nilID *Identity
	if nilID.HasRole("student") {
		t.Fatal("nil identity has a role")
	}
}
