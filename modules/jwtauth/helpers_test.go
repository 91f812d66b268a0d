package jwtauth

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// testKey is an issuer signing key.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keyA     *testKey
	keyB     *testKey
	keyC     *testKey
)

// testKeys makes three RSA keys once per test binary (generation is slow).
func testKeys(t testing.TB) (*testKey, *testKey, *testKey) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(kid string) *testKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return &testKey{kid: kid, priv: k}
		}
		keyA, keyB, keyC = gen("key-a"), gen("key-b"), gen("key-c")
	})
	return keyA, keyB, keyC
}

// publicJWK is the key's public JWK with kid, alg and use.
func (k *testKey) publicJWK(t testing.TB) json.RawMessage {
	t.Helper()
	j, err := jwk.FromRaw(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Set(jwk.KeyIDKey, k.kid)
	_ = j.Set(jwk.AlgorithmKey, "RS256")
	_ = j.Set(jwk.KeyUsageKey, "sig")
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwksDoc(t testing.TB, keys ...*testKey) []byte {
	t.Helper()
	var list []json.RawMessage
	for _, k := range keys {
		list = append(list, k.publicJWK(t))
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(b)
}

// signRS256 makes a compact JWS with the key (its kid in the header).
func signRS256(t testing.TB, k *testKey, claims map[string]any) string {
	t.Helper()
	input := b64JSON(map[string]any{"alg": "RS256", "kid": k.kid, "typ": "JWT"}) + "." + b64JSON(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// unsignedToken is an alg=none token.
func unsignedToken(claims map[string]any) string {
	return b64JSON(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64JSON(claims) + "."
}

// hs256WithPublicKey is the classic algorithm-confusion forgery: HMAC keyed
// with the issuer's public key bytes, which anyone can download.
func hs256WithPublicKey(k *testKey, claims map[string]any) string {
	der, _ := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	input := b64JSON(map[string]any{"alg": "HS256", "kid": k.kid, "typ": "JWT"}) + "." + b64JSON(claims)
	m := hmac.New(sha256.New, der)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// claimsAt are valid claims for issuer/audience around now.
func claimsAt(now time.Time, iss, aud, sub string) map[string]any {
	return map[string]any{
		"iss": iss, "aud": aud, "sub": sub,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"email": sub + "@example.com", "email_verified": true, "role": "student",
		"scope": "openid profile", "client_id": "web",
	}
}

// jwksServer serves a JWKS (and, for issuer discovery, metadata) that
// tests change on the fly; it counts JWKS requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	keys         []*testKey
	status       int
	cacheControl string
	gate         chan struct{} // when set, JWKS requests wait for it
	hits         atomic.Int64
	t            testing.TB
}

func newJWKSServer(t testing.TB, keys ...*testKey) *jwksServer {
	s := &jwksServer{keys: keys, status: http.StatusOK, t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	keys, status, cc, gate := s.keys, s.status, s.cacheControl, s.gate
	s.mu.Unlock()
	if r.URL.Path == "/.well-known/openid-configuration" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.URL, "jwks_uri": s.URL + "/jwks"})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/jwks") {
		http.NotFound(w, r)
		return
	}
	s.hits.Add(1)
	if gate != nil {
		<-gate
	}
	if status != http.StatusOK {
		http.Error(w, "down", status)
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jwksDoc(s.t, keys...))
}

func (s *jwksServer) set(status int, keys ...*testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
	if keys != nil {
		s.keys = keys
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
