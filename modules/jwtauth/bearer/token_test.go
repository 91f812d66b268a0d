package bearer

import (
	"context"
	"encoding/json"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
	"strings"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	t.Parallel()
	h := jwttest.B64JSON(map[string]any{"alg": "RS256", "kid": "k"})
	p := jwttest.B64JSON(map[string]any{"sub": "x"})
	cases := map[string]bool{
		h + "." + p + ".c2ln":                      true,
		h + "." + p + ".":                          true, // empty signature parses; verification refuses it
		h + "." + p:                                false,
		h + "." + p + ".c2ln.more.parts":           false,
		h + "." + p + ".c2ln=":                     false, // padding is not base64url
		"!!." + p + ".c2ln":                        false,
		jwttest.B64([]byte("[]")) + "." + p + ".x": false,
		jwttest.B64JSON(map[string]any{"kid": "k"}) + "." + p + ".c2ln":                          false, // no alg
		jwttest.B64JSON(map[string]any{"alg": "RS256", "crit": []string{"b64"}}) + "." + p + ".": false,
		jwttest.B64JSON(map[string]any{"alg": "RS256", "b64": false}) + "." + p + ".":            false, // RFC 7797 without crit
		h + "." + p + ".c2ln+/":                          false, // standard base64 is not base64url
		"." + p + ".c2ln":                                false,
		h + "." + jwttest.B64([]byte(`"str"`)) + ".c2ln": false,
		h + "." + jwttest.B64([]byte(``)) + ".c2ln":      false,
		strings.Repeat("a", maxTokenLength+1):            false,
		"":                                               false,
	}
	for tok, ok := range cases {
		_, err := parseToken(tok)
		if (err == nil) != ok {
			t.Errorf("parseToken(%.40q…) err = %v, want ok=%v", tok, err, ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in               string
		tok              string
		present, wellFmt bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true, true},
		{"bearer   abc", "abc", true, true},
		{"", "", false, false},
		{"Basic dXNlcjpwdw==", "", false, false},
		{"Bearer", "", false, false},
		{"Bearer ", "", true, false},
		{"Bearer a b", "", true, false},
		{"Bearer a\"b", "", true, false},
	}
	for _, c := range cases {
		tok, present, ok := BearerToken(c.in)
		if tok != c.tok || present != c.present || ok != c.wellFmt {
			t.Errorf("BearerToken(%q) = %q,%v,%v", c.in, tok, present, ok)
		}
	}
}

func TestStripIdentityHeaders(t *testing.T) {
	t.Parallel()
	h := map[string][]string{
		"X-User-Id":    {"spoof"},
		"X-User_Email": {"spoof"},
		"x.user.role":  {"spoof"},
		"X-Custom":     {"spoof"},
		"Accept":       {"*/*"},
	}
	StripIdentityHeaders(h, []string{"X-User-Id", "X-User-Email", "X-User-Role", "X-Custom"})
	if len(h) != 1 || h["Accept"] == nil {
		t.Fatalf("left: %v", h)
	}
	if got := HeaderSafe("a\r\nb\x00c\td"); got != "abc\td" {
		t.Fatalf("HeaderSafe: %q", got)
	}
}

// FuzzTokenParsing feeds arbitrary input to every step that reads a token
// before it is trusted: the Authorization header, the compact JWS split,
// the header and the claims decoding, and the whole verification (whose
// signature check needs a real key, so claims also get decoded directly).
func FuzzTokenParsing(f *testing.F) {
	a, _, _ := jwttest.Keys(f)
	now := time.Unix(1_800_000_000, 0)
	valid := jwttest.SignRS256(f, a, jwttest.Claims(now, "https://i.test", "api", "u"))
	for _, seed := range []string{
		valid, "Bearer " + valid, jwttest.Unsigned(map[string]any{"sub": "x"}), jwttest.HS256WithPublicKey(a, map[string]any{"sub": "x"}),
		"a.b.c", "..", "....", "e30.e30.", `{"exp":1e400,"aud":[1,2],"role":{"x":1},"email_verified":"maybe"}`,
		`{"exp":-1,"nbf":"x","aud":null,"scope":["a",null]}`, jwttest.B64JSON(map[string]any{"alg": "RS256", "crit": nil}) + ".e30.AA",
	} {
		f.Add(seed)
	}
	ks, err := ParseKeySet(jwttest.JWKSDoc(f, a))
	if err != nil {
		f.Fatal(err)
	}
	v := &Verifier{Issuer: "https://i.test", Audiences: []string{"api"}, Algorithms: map[string]bool{"RS256": true, "ES256": true},
		Claims: []string{"stage"}, Keys: &staticKeys{current: ks}, Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = BearerToken(s)
		if p, err := parseToken(s); err == nil && (p.alg == "" || len(p.payload) == 0) {
			t.Fatalf("parsed without alg or payload: %q", s)
		}
		id, r := v.Verify(context.Background(), s)
		if (id == nil) == (r == nil) {
			t.Fatalf("Verify(%q) returned identity %v and refusal %v", s, id, r)
		}
		var c claims
		if json.Unmarshal([]byte(s), &c) == nil {
			_ = c.roles()
		}
		_ = claimString(json.RawMessage(s))
		_ = cacheMaxAge(s)
	})
}
