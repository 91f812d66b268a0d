// Package jwttest has what bearer_jwt's tests share: issuer keys, signed and
// forged tokens, a JWKS server to change on the fly, and a fake clock.
package jwttest

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

// Key is an issuer signing key.
type Key struct {
	Kid  string
	Priv *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keyA     *Key
	keyB     *Key
	keyC     *Key
)

// Keys makes three RSA keys once per test binary (generation is slow).
func Keys(t testing.TB) (*Key, *Key, *Key) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(kid string) *Key {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return &Key{Kid: kid, Priv: k}
		}
		keyA, keyB, keyC = gen("key-a"), gen("key-b"), gen("key-c")
	})
	return keyA, keyB, keyC
}

// PublicJWK is the key's public JWK with kid, alg and use.
func (k *Key) PublicJWK(t testing.TB) json.RawMessage {
	t.Helper()
	j, err := jwk.FromRaw(&k.Priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Set(jwk.KeyIDKey, k.Kid)
	_ = j.Set(jwk.AlgorithmKey, "RS256")
	_ = j.Set(jwk.KeyUsageKey, "sig")
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func JWKSDoc(t testing.TB, keys ...*Key) []byte {
	t.Helper()
	var list []json.RawMessage
	for _, k := range keys {
		list = append(list, k.PublicJWK(t))
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

// B64 is base64url without padding.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// B64JSON is B64 of v's JSON.
func B64JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return B64(b)
}

// SignRS256 makes an access token: a compact JWS with the key (its kid in
// the header) and typ at+jwt (RFC 9068 §2.1).
func SignRS256(t testing.TB, k *Key, claims map[string]any) string {
	t.Helper()
	return SignRS256Typ(t, k, "at+jwt", claims)
}

// SignRS256Typ is SignRS256 with another typ header ("" for none): "JWT"
// is what an ID token carries.
func SignRS256Typ(t testing.TB, k *Key, typ string, claims map[string]any) string {
	t.Helper()
	header := map[string]any{"alg": "RS256", "kid": k.Kid}
	if typ != "" {
		header["typ"] = typ
	}
	input := B64JSON(header) + "." + B64JSON(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + B64(sig)
}

// Unsigned is an alg=none token.
func Unsigned(claims map[string]any) string {
	return B64JSON(map[string]any{"alg": "none", "typ": "JWT"}) + "." + B64JSON(claims) + "."
}

// HS256WithPublicKey is the classic algorithm-confusion forgery: HMAC keyed
// with the issuer's public key bytes, which anyone can download.
func HS256WithPublicKey(k *Key, claims map[string]any) string {
	der, _ := x509.MarshalPKIXPublicKey(&k.Priv.PublicKey)
	input := B64JSON(map[string]any{"alg": "HS256", "kid": k.Kid, "typ": "JWT"}) + "." + B64JSON(claims)
	m := hmac.New(sha256.New, der)
	m.Write([]byte(input))
	return input + "." + B64(m.Sum(nil))
}

// Claims are valid claims for issuer/audience around now.
func Claims(now time.Time, iss, aud, sub string) map[string]any {
	return map[string]any{
		"iss": iss, "aud": aud, "sub": sub,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"email": sub + "@example.com", "email_verified": true, "role": "student",
		"scope": "openid profile", "client_id": "web",
	}
}

// JWKSServer serves a JWKS (and, for issuer discovery, metadata) that
// tests change on the fly; it counts JWKS requests.
type JWKSServer struct {
	*httptest.Server
	Mu           sync.Mutex
	keys         []*Key
	Status       int
	CacheControl string
	Gate         chan struct{} // when set, JWKS requests wait for it
	Hits         atomic.Int64
	t            testing.TB
}

// NewJWKSServer serves keys at /jwks (and discovery metadata naming its
// own URL as issuer), closed at the end of the test.
func NewJWKSServer(t testing.TB, keys ...*Key) *JWKSServer {
	s := &JWKSServer{keys: keys, Status: http.StatusOK, t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *JWKSServer) serve(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	keys, status, cc, gate := s.keys, s.Status, s.CacheControl, s.Gate
	s.Mu.Unlock()
	if r.URL.Path == "/.well-known/openid-configuration" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.URL, "jwks_uri": s.URL + "/jwks"})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/jwks") {
		http.NotFound(w, r)
		return
	}
	s.Hits.Add(1)
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
	_, _ = w.Write(JWKSDoc(s.t, keys...))
}

// Set changes the answer: a status other than 200 is an outage; keys, when
// given, replace the published keys.
func (s *JWKSServer) Set(status int, keys ...*Key) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.Status = status
	if keys != nil {
		s.keys = keys
	}
}

// FakeClock is a settable clock.
type FakeClock struct {
	mu sync.Mutex
	T  time.Time
}

// Now is the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.T
}

// Advance moves the clock on.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.T = c.T.Add(d)
	c.mu.Unlock()
}

// LastDot is the index of the signature separator of a compact JWS.
func LastDot(s string) int { return strings.LastIndexByte(s, '.') }

// SwapSignature puts the signature of other on token: valid base64, wrong bytes.
func SwapSignature(token, other string) string {
	return token[:LastDot(token)] + other[LastDot(other):]
}
