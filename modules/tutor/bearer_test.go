package tutor_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/jwtauth"
	_ "github.com/intellistack/intellistack/modules/ratelimit"
)

// testIssuer is an OAuth issuer for bearer_jwt: an RSA key, its JWKS served
// over HTTP, and RFC 9068 access tokens (typ at+jwt) signed with it.
type testIssuer struct {
	t    *testing.T
	priv jwk.Key
	jwks *httptest.Server
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := jwk.FromRaw(key)
	_ = priv.Set(jwk.KeyIDKey, "k1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.RS256)
	pub, _ := priv.PublicKey()
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(jwks.Close)
	return &testIssuer{t: t, priv: priv, jwks: jwks}
}

// sign issues an access token for https://id.test with audience course.
func (is *testIssuer) sign(claims map[string]any) string {
	is.t.Helper()
	b := jwt.NewBuilder().Issuer("https://id.test").Audience([]string{"course"}).IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour))
	for k, v := range claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		is.t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "at+jwt")
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, is.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		is.t.Fatal(err)
	}
	return string(signed)
}

// The production wiring: bearer_jwt validates the token and exposes its
// stage claim; the tutor reads it from there and nowhere else.
func TestStageClaimFromBearerToken(t *testing.T) {
	issuer := newTestIssuer(t)
	sign := issuer.sign

	fake := fakeopenai.New()
	defer fake.Close()
	c := testutil.StartCaddy(t, `https://localhost {
	route /chatkit {
		bearer_jwt {
			issuer https://id.test
			jwks_url `+issuer.jwks.URL+`
			audience course
			claim stage
		}
		chatkit {
			responder tutor {
				`+modelBlock(fake)+`
				`+lexicalCourse+`
			}
		}
	}
}`)
	send := func(token string, forged map[string]string) (int, string) {
		b, _ := json.Marshal(ask("What is the difference between break and continue?", map[string]any{"metadata": map[string]any{"stage": "4"}}))
		req, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range forged {
			req.Header.Set(k, v)
		}
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		last, _ := fake.Last()
		return resp.StatusCode, allSystemText(last)
	}

	status, sys := send(sign(map[string]any{"sub": "u-ana", "role": "student", "stage": 2}), map[string]string{"X-User-Stage": "4", "X-User-Role": "admin"})
	if status != 200 || !strings.Contains(sys, "stages 1 to 2") {
		t.Fatalf("stage-2 token: status %d, prompt:\n%s", status, sys)
	}
	status, sys = send(sign(map[string]any{"sub": "u-new", "role": "student"}), map[string]string{"X-User-Stage": "4"})
	if status != 200 || !strings.Contains(sys, "stages 1 to 1") {
		t.Fatalf("token without a stage claim: status %d, prompt:\n%s", status, sys)
	}
	status, sys = send(sign(map[string]any{"sub": "u-ivy", "role": "instructor"}), nil)
	if status != 200 || !strings.Contains(sys, "course staff") {
		t.Fatalf("instructor token: status %d, prompt:\n%s", status, sys)
	}
	if status, _ := send("not-a-token", nil); status != 401 {
		t.Fatalf("garbage token: status %d", status)
	}
}

// One identity for every module (issue 11): a user holding several roles is
// an instructor for the quota and for the tutor alike, whatever shape the
// token gives the role claim. (Before the typed identity, request_quota
// split the role string and exempted these users while the tutor compared
// the whole string and locked them to stage 1.)
func TestRoleListsAgreeAcrossQuotaAndTutor(t *testing.T) {
	issuer := newTestIssuer(t)
	fake := fakeopenai.New()
	defer fake.Close()
	c := testutil.StartCaddy(t, `https://localhost {
	route /chatkit {
		bearer_jwt {
			issuer https://id.test
			jwks_url `+issuer.jwks.URL+`
			audience course
			claim stage
		}
		request_quota {
			key {http.auth.user.id}
			limit 1 per 1h
			exempt_roles instructor admin
			store memory
		}
		chatkit {
			responder tutor {
				`+modelBlock(fake)+`
				`+lexicalCourse+`
			}
		}
	}
}`)
	send := func(token string) (*http.Response, string) {
		b, _ := json.Marshal(ask("What letter grade thresholds does the gradebook project use?", nil))
		req, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		last, _ := fake.Last()
		return resp, allSystemText(last)
	}

	for i, role := range []any{[]string{"student", "instructor"}, "student instructor", "student,instructor"} {
		token := issuer.sign(map[string]any{"sub": fmt.Sprintf("staff-%d", i), "role": role, "stage": 1})
		for n := 1; n <= 2; n++ {
			resp, sys := send(token)
			if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Limit") != "" {
				t.Fatalf("role %#v, message %d: status %d, quota headers %v: the quota did not exempt an instructor", role, n, resp.StatusCode, resp.Header)
			}
			if !strings.Contains(sys, "course staff") || !strings.Contains(sys, "A from 90") {
				t.Fatalf("role %#v, message %d: the tutor did not treat an instructor as staff; prompt:\n%s", role, n, sys)
			}
		}
	}

	// A student is counted and kept to their stage.
	token := issuer.sign(map[string]any{"sub": "student", "role": []string{"student"}, "stage": 1})
	resp, sys := send(token)
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "0" || !strings.Contains(sys, "stages 1 to 1") {
		t.Fatalf("student: status %d, headers %v, prompt:\n%s", resp.StatusCode, resp.Header, sys)
	}
	if resp, _ := send(token); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("student's second message: status %d", resp.StatusCode)
	}
}
