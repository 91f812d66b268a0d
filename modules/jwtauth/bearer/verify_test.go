package bearer

import (
	"context"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
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

func mustKeySet(t *testing.T, keys ...*jwttest.Key) *KeySet {
	t.Helper()
	ks, err := ParseKeySet(jwttest.JWKSDoc(t, keys...))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestVerify(t *testing.T) {
	t.Parallel()
	a, b, _ := jwttest.Keys(t)
	now := time.Unix(1_800_000_000, 0).UTC()
	const iss, aud = "https://issuer.test", "course-api"
	base := func() map[string]any { return jwttest.Claims(now, iss, aud, "user-1") }
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
		{"valid", jwttest.SignRS256(t, a, base()), nil},
		{"aud array", jwttest.SignRS256(t, a, with("aud", []string{"other", aud})), nil},
		{"expired", jwttest.SignRS256(t, a, with("exp", now.Add(-time.Hour).Unix())), RefuseExpired},
		{"expired within leeway", jwttest.SignRS256(t, a, with("exp", now.Add(-10*time.Second).Unix())), nil},
		{"expired just past leeway", jwttest.SignRS256(t, a, with("exp", now.Add(-30*time.Second).Unix())), RefuseExpired},
		{"nbf in future", jwttest.SignRS256(t, a, with("nbf", now.Add(time.Hour).Unix())), RefuseNotYetValid},
		{"iat in future", jwttest.SignRS256(t, a, with("iat", now.Add(time.Hour).Unix())), RefuseNotYetValid},
		{"wrong issuer", jwttest.SignRS256(t, a, with("iss", "https://evil.test")), RefuseIssuer},
		{"wrong audience", jwttest.SignRS256(t, a, with("aud", "other")), RefuseAudience},
		{"no exp", jwttest.SignRS256(t, a, with("exp", nil)), RefuseMissingClaim},
		{"no sub", jwttest.SignRS256(t, a, with("sub", nil)), RefuseMissingClaim},
		{"exp as string", jwttest.SignRS256(t, a, with("exp", "soon")), RefuseMalformed},
		{"malformed", "abc.def", RefuseMalformed},
		{"bad signature", jwttest.SwapSignature(jwttest.SignRS256(t, a, base()), jwttest.SignRS256(t, a, with("sub", "user-2"))), RefuseSignature},
		{"signed by unknown key", jwttest.SignRS256(t, &jwttest.Key{Kid: a.Kid, Priv: b.Priv}, base()), RefuseSignature},
		{"alg none", jwttest.Unsigned(base()), RefuseAlgorithm},
		{"HS256 with public key", jwttest.HS256WithPublicKey(a, base()), RefuseAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
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

func TestVerifyIdentityClaims(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	now := time.Unix(1_800_000_000, 0)
	c := jwttest.Claims(now, "", "", "u1")
	c["role"] = "admin, instructor"
	c["email_verified"] = "true"
	c["scope"] = []string{"openid", "chat"}
	delete(c, "client_id")
	c["azp"] = "mobile"
	c["stage"] = 3
	c["tags"] = []string{"x"}
	v := &Verifier{Algorithms: map[string]bool{"RS256": true}, Claims: []string{"stage", "tags", "absent"},
		Keys: &staticKeys{current: mustKeySet(t, a)}, Now: func() time.Time { return now }}
	id, r := v.Verify(context.Background(), jwttest.SignRS256(t, a, c))
	if r != nil {
		t.Fatal(r)
	}
	if id.Role != "admin,instructor" || len(id.Roles) != 2 || !id.EmailVerified || id.Scope != "openid chat" || id.ClientID != "mobile" {
		t.Fatalf("identity: %+v", id)
	}
	if id.Extra["stage"] != "3" || id.Extra["tags"] != `["x"]` || len(id.Extra) != 2 {
		t.Fatalf("extra: %v", id.Extra)
	}
	if string(id.Claims["stage"]) != "3" || string(id.Claims["tags"]) != `["x"]` || len(id.Claims) != 2 {
		t.Fatalf("raw claims: %s", id.Claims)
	}
	// Every shape of the role claim gives the same list (identity.ParseRoles).
	for _, role := range []any{"admin instructor", []string{"admin", "instructor"}, "admin,instructor", []string{"admin instructor", "admin"}} {
		c["role"] = role
		id, r := v.Verify(context.Background(), jwttest.SignRS256(t, a, c))
		if r != nil || id.Role != "admin,instructor" || len(id.Roles) != 2 {
			t.Fatalf("role %#v: %v %+v", role, r, id)
		}
	}
}

func TestVerifyUnknownKidRefreshes(t *testing.T) {
	t.Parallel()
	a, b, _ := jwttest.Keys(t)
	now := time.Unix(1_800_000_000, 0)
	keys := &staticKeys{current: mustKeySet(t, a), afterRefresh: mustKeySet(t, a, b)}
	v := &Verifier{Algorithms: map[string]bool{"RS256": true}, Keys: keys, Now: func() time.Time { return now }}
	if _, r := v.Verify(context.Background(), jwttest.SignRS256(t, b, jwttest.Claims(now, "", "", "u"))); r != nil || keys.refreshes != 1 {
		t.Fatalf("refusal %v, refreshes %d", r, keys.refreshes)
	}
	// A kid that stays unknown is refused after the (source-limited) refresh.
	_, _, kc := jwttest.Keys(t)
	if _, r := v.Verify(context.Background(), jwttest.SignRS256(t, kc, jwttest.Claims(now, "", "", "u"))); r != RefuseUnknownKey {
		t.Fatalf("refusal %v", r)
	}
	// No keys at all: 503.
	v.Keys = &staticKeys{}
	if _, r := v.Verify(context.Background(), jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "u"))); r != RefuseNoKeys {
		t.Fatalf("refusal %v", r)
	}
}

// An ID token is signed by the same keys as an access token; only its typ
// (JWT, or none) and its aud (the client) tell them apart.
func TestVerifyTokenTypeAndClientAudience(t *testing.T) {
	t.Parallel()
	a, _, _ := jwttest.Keys(t)
	now := time.Unix(1_800_000_000, 0)
	const iss = "https://issuer.test"
	access := jwttest.Claims(now, iss, iss, "u1")
	idToken := jwttest.Claims(now, iss, "web", "u1")
	verifier := func(anyType bool, audiences ...string) *Verifier {
		return &Verifier{Issuer: iss, Audiences: audiences, Algorithms: map[string]bool{"RS256": true}, AnyType: anyType,
			ClientIDs: func() []string { return []string{"web", "mobile"} },
			Keys:      &staticKeys{current: mustKeySet(t, a)}, Now: func() time.Time { return now }}
	}
	cases := []struct {
		name  string
		v     *Verifier
		token string
		want  *Refusal
	}{
		{"at+jwt", verifier(false), jwttest.SignRS256Typ(t, a, "at+jwt", access), nil},
		{"application/at+jwt", verifier(false), jwttest.SignRS256Typ(t, a, "application/at+jwt", access), nil},
		{"case-insensitive", verifier(false), jwttest.SignRS256Typ(t, a, "Application/AT+JWT", access), nil},
		{"typ JWT refused", verifier(false), jwttest.SignRS256Typ(t, a, "JWT", access), RefuseTokenType},
		{"no typ refused", verifier(false), jwttest.SignRS256Typ(t, a, "", access), RefuseTokenType},
		{"other +jwt refused", verifier(false), jwttest.SignRS256Typ(t, a, "logout+jwt", access), RefuseTokenType},
		{"ID token refused by typ", verifier(false), jwttest.SignRS256Typ(t, a, "JWT", idToken), RefuseTokenType},
		{"any typ: access token", verifier(true), jwttest.SignRS256Typ(t, a, "JWT", access), nil},
		{"any typ: ID token still refused by aud", verifier(true), jwttest.SignRS256Typ(t, a, "JWT", idToken), RefuseAudience},
		{"aud array naming a client", verifier(true), jwttest.SignRS256Typ(t, a, "", func() map[string]any {
			c := jwttest.Claims(now, iss, "", "u1")
			c["aud"] = []string{iss, "mobile"}
			return c
		}()), RefuseAudience},
		{"client id listed in audience", verifier(true, "web"), jwttest.SignRS256Typ(t, a, "JWT", idToken), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, got := tc.v.Verify(context.Background(), tc.token); got != tc.want {
				t.Fatalf("refusal = %v, want %v", got, tc.want)
			}
		})
	}
}
