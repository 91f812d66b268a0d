package jwtauth

import (
	"context"
	"testing"
	"time"
)

// staticKeys is a KeySource with fixed sets, counting refreshes.
type staticKeys struct {
	current, afterRefresh *KeySet
	refreshes             int
}

func (s *staticKeys) Current(context.Context) *KeySet { return s.current }
func (s *staticKeys) RefreshUnknown(context.Context) *KeySet {
	s.refreshes++
	if s.afterRefresh != nil {
		s.current = s.afterRefresh
	}
	return s.current
}

func mustKeySet(t *testing.T, keys ...*testKey) *KeySet {
	t.Helper()
	ks, err := parseKeySet(jwksDoc(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestVerify(t *testing.T) {
	a, b, _ := testKeys(t)
	now := time.Unix(1_800_000_000, 0).UTC()
	const iss, aud = "https://issuer.test", "course-api"
	base := func() map[string]any { return claimsAt(now, iss, aud, "user-1") }
	with := func(k string, v any) map[string]any {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name  string
		token string
		want  *Refusal
	}{
		{"valid", signRS256(t, a, base()), nil},
		{"aud array", signRS256(t, a, with("aud", []string{"other", aud})), nil},
		{"expired", signRS256(t, a, with("exp", now.Add(-time.Hour).Unix())), refuseExpired},
		{"expired within leeway", signRS256(t, a, with("exp", now.Add(-10*time.Second).Unix())), nil},
		{"expired just past leeway", signRS256(t, a, with("exp", now.Add(-30*time.Second).Unix())), refuseExpired},
		{"nbf in future", signRS256(t, a, with("nbf", now.Add(time.Hour).Unix())), refuseNotYetValid},
		{"iat in future", signRS256(t, a, with("iat", now.Add(time.Hour).Unix())), refuseNotYetValid},
		{"wrong issuer", signRS256(t, a, with("iss", "https://evil.test")), refuseIssuer},
		{"wrong audience", signRS256(t, a, with("aud", "other")), refuseAudience},
		{"no exp", signRS256(t, a, with("exp", nil)), refuseMissingClaim},
		{"no sub", signRS256(t, a, with("sub", nil)), refuseMissingClaim},
		{"exp as string", signRS256(t, a, with("exp", "soon")), refuseMalformed},
		{"malformed", "abc.def", refuseMalformed},
		{"bad signature", signRS256(t, a, base())[:10] + "x" + signRS256(t, a, base())[11:], nil}, // replaced below
		{"signed by unknown key", signRS256(t, &testKey{kid: a.kid, priv: b.priv}, base()), refuseSignature},
		{"alg none", unsignedToken(base()), refuseAlgorithm},
		{"HS256 with public key", hs256WithPublicKey(a, base()), refuseAlgorithm},
	}
	// A signature from another token: valid base64, wrong bytes.
	good, other := signRS256(t, a, base()), signRS256(t, a, with("sub", "user-2"))
	cases[13].token = good[:lastDot(good)] + other[lastDot(other):]
	cases[13].want = refuseSignature

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Issuer: iss, Audiences: []string{aud}, Algorithms: map[string]bool{"RS256": true},
				Leeway: 30 * time.Second, Keys: &staticKeys{current: mustKeySet(t, a)}, Now: func() time.Time { return now }}
			id, got := v.Verify(context.Background(), tc.token)
			if got != tc.want {
				t.Fatalf("refusal = %v, want %v", got, tc.want)
			}
			if tc.want == nil && (id == nil || id.Subject == "") {
				t.Fatalf("no identity: %+v", id)
			}
		})
	}
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func TestVerifyIdentityClaims(t *testing.T) {
	a, _, _ := testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	c := claimsAt(now, "", "", "u1")
	c["role"] = "admin, instructor"
	c["email_verified"] = "true"
	c["scope"] = []string{"openid", "chat"}
	delete(c, "client_id")
	c["azp"] = "mobile"
	c["stage"] = 3
	c["tags"] = []string{"x"}
	v := &Verifier{Algorithms: map[string]bool{"RS256": true}, Claims: []string{"stage", "tags", "absent"},
		Keys: &staticKeys{current: mustKeySet(t, a)}, Now: func() time.Time { return now }}
	id, r := v.Verify(context.Background(), signRS256(t, a, c))
	if r != nil {
		t.Fatal(r)
	}
	if id.Role != "admin,instructor" || len(id.Roles) != 2 || !id.EmailVerified || id.Scope != "openid chat" || id.ClientID != "mobile" {
		t.Fatalf("identity: %+v", id)
	}
	if id.Extra["stage"] != "3" || id.Extra["tags"] != `["x"]` || len(id.Extra) != 2 {
		t.Fatalf("extra: %v", id.Extra)
	}
}

func TestVerifyUnknownKidRefreshes(t *testing.T) {
	a, b, _ := testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	keys := &staticKeys{current: mustKeySet(t, a), afterRefresh: mustKeySet(t, a, b)}
	v := &Verifier{Algorithms: map[string]bool{"RS256": true}, Keys: keys, Now: func() time.Time { return now }}
	if _, r := v.Verify(context.Background(), signRS256(t, b, claimsAt(now, "", "", "u"))); r != nil || keys.refreshes != 1 {
		t.Fatalf("refusal %v, refreshes %d", r, keys.refreshes)
	}
	// A kid that stays unknown is refused after the (source-limited) refresh.
	_, _, kc := testKeys(t)
	if _, r := v.Verify(context.Background(), signRS256(t, kc, claimsAt(now, "", "", "u"))); r != refuseUnknownKey {
		t.Fatalf("refusal %v", r)
	}
	// No keys at all: 503.
	v.Keys = &staticKeys{}
	if _, r := v.Verify(context.Background(), signRS256(t, a, claimsAt(now, "", "", "u"))); r != refuseNoKeys {
		t.Fatalf("refusal %v", r)
	}
}
