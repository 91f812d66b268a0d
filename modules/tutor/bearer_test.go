package tutor_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/jwtauth"
	"github.com/intellistack/intellistack/modules/tutor/internal/fakeopenai"
)

// The production wiring: bearer_jwt validates the token and exposes its
// stage claim; the tutor reads it from there and nowhere else.
func TestStageClaimFromBearerToken(t *testing.T) {
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
	defer jwks.Close()
	sign := func(claims map[string]any) string {
		b := jwt.NewBuilder().Issuer("https://id.test").Audience([]string{"course"}).IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour))
		for k, v := range claims {
			b = b.Claim(k, v)
		}
		tok, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, priv))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}

	fake := fakeopenai.New()
	defer fake.Close()
	c := testutil.StartCaddy(t, `https://localhost {
	route /chatkit {
		bearer_jwt {
			issuer https://id.test
			jwks_url `+jwks.URL+`
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
