// Package fakeupstream is an OpenID Connect provider (like Google:
// discovery, JWKS, authorization endpoint, token endpoint with PKCE,
// RS256 ID tokens, userinfo) and a GitHub (OAuth 2.0 authorize and
// access_token endpoints, /user and /user/emails) for tests, so the real
// golang.org/x/oauth2 and go-oidc clients are what the tests exercise.
// The authorization endpoint signs in whoever the test set and redirects
// back at once.
package fakeupstream

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Identity is the user the fake signs in.
type Identity struct {
	Subject       string // GitHub: a decimal id
	Email         string
	EmailVerified bool
	Name          string
	// GitHub: more addresses, none primary.
	OtherEmails []string
}

// Server is a running fake. Set its fields (under no request) to shape
// the next answers.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu sync.Mutex
	// User is who signs in at the authorization endpoint.
	User Identity
	// Tampering with the ID token, for refusal tests.
	IDTokenIssuer   string // default: the server's URL
	IDTokenAudience string // default: ClientID
	IDTokenNonce    string // default: the nonce of the request
	// TokenDelay delays the token endpoint (timeouts).
	TokenDelay time.Duration

	key   *rsa.PrivateKey
	codes map[string]grant // code → grant, spent once
	token map[string]Identity
	// Requests counts token-endpoint calls.
	Requests int
}

type grant struct {
	user                               Identity
	redirect, challenge, nonce, client string
}

// NewOpenID starts a fake OpenID Connect provider over HTTPS.
func NewOpenID(clientID, clientSecret string) *Server {
	s := newServer(clientID, clientSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("/jwks", s.jwks)
	mux.HandleFunc("/authorize", s.authorize)
	mux.HandleFunc("/token", s.tokenEndpoint)
	mux.HandleFunc("/userinfo", s.userinfo)
	s.Server = httptest.NewTLSServer(mux)
	return s
}

// NewGitHub starts a fake GitHub over HTTPS: the web endpoints at
// /login/oauth/*, the API at /api/v3 (GitHub Enterprise's layout).
func NewGitHub(clientID, clientSecret string) *Server {
	s := newServer(clientID, clientSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("/login/oauth/authorize", s.authorize)
	mux.HandleFunc("/login/oauth/access_token", s.tokenEndpoint)
	mux.HandleFunc("/api/v3/user", s.githubUser)
	mux.HandleFunc("/api/v3/user/emails", s.githubEmails)
	s.Server = httptest.NewTLSServer(mux)
	return s
}

func newServer(id, secret string) *Server {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return &Server{ClientID: id, ClientSecret: secret, key: key, codes: map[string]grant{}, token: map[string]Identity{}}
}

// Set replaces the signed-in user and clears the tampering knobs.
func (s *Server) Set(u Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.User, s.IDTokenIssuer, s.IDTokenAudience, s.IDTokenNonce, s.TokenDelay = u, "", "", "", 0
}

// Tamper sets the ID token knobs.
func (s *Server) Tamper(issuer, audience, nonce string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.IDTokenIssuer, s.IDTokenAudience, s.IDTokenNonce = issuer, audience, nonce
}

// Delay makes the token endpoint wait.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.TokenDelay = d
}

// CAFile writes the server's certificate (its own root) as PEM into dir
// and returns the path, for the provider's trusted_ca.
func (s *Server) CAFile(dir string) string {
	path := filepath.Join(dir, "fake-"+randHex()+".pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		panic(err)
	}
	return path
}

func randHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer": s.URL, "authorization_endpoint": s.URL + "/authorize", "token_endpoint": s.URL + "/token",
		"jwks_uri": s.URL + "/jwks", "userinfo_endpoint": s.URL + "/userinfo",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (s *Server) publicKey() jwk.Key {
	k, _ := jwk.FromRaw(s.key.Public())
	_ = k.Set(jwk.KeyIDKey, "fake-1")
	_ = k.Set(jwk.AlgorithmKey, jwa.RS256)
	_ = k.Set(jwk.KeyUsageKey, "sig")
	return k
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set := jwk.NewSet()
	_ = set.AddKey(s.publicKey())
	writeJSON(w, 200, set)
}

// authorize checks the request as a real provider would (client,
// response_type, S256 challenge) and redirects back with a code.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID || q.Get("redirect_uri") == "" {
		http.Error(w, "unknown client or no redirect_uri", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("state", q.Get("state"))
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || (strings.HasPrefix(r.URL.Path, "/authorize") && q.Get("response_type") != "code") {
		v.Set("error", "invalid_request")
	} else {
		code := randHex() + randHex()
		s.mu.Lock()
		s.codes[code] = grant{user: s.User, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), client: s.ClientID}
		s.mu.Unlock()
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.Requests++
	delay := s.TokenDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	s.mu.Lock()
	g, found := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !found:
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	case g.redirect != r.PostForm.Get("redirect_uri"):
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	access := randHex() + randHex()
	s.mu.Lock()
	s.token[access] = g.user
	iss, aud, nonce := s.IDTokenIssuer, s.IDTokenAudience, s.IDTokenNonce
	s.mu.Unlock()
	resp := map[string]any{"access_token": access, "token_type": "bearer", "expires_in": 3600, "scope": r.PostForm.Get("scope")}
	if strings.HasPrefix(r.URL.Path, "/token") { // OpenID Connect: an ID token
		if iss == "" {
			iss = s.URL
		}
		if aud == "" {
			aud = s.ClientID
		}
		if nonce == "" {
			nonce = g.nonce
		}
		now := time.Now()
		b := jwt.NewBuilder().Issuer(iss).Subject(g.user.Subject).Audience([]string{aud}).IssuedAt(now).
			Expiration(now.Add(time.Hour)).Claim("nonce", nonce).Claim("email", g.user.Email).
			Claim("email_verified", g.user.EmailVerified).Claim("name", g.user.Name)
		tok, err := b.Build()
		if err != nil {
			writeJSON(w, 500, map[string]string{"error": "server_error"})
			return
		}
		priv, _ := jwk.FromRaw(s.key)
		_ = priv.Set(jwk.KeyIDKey, "fake-1")
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, priv))
		if err != nil {
			writeJSON(w, 500, map[string]string{"error": "server_error"})
			return
		}
		resp["id_token"] = string(signed)
		writeJSON(w, 200, resp)
		return
	}
	// GitHub answers form-encoded unless asked for JSON.
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, 200, resp)
		return
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	_, _ = w.Write([]byte(url.Values{"access_token": {access}, "token_type": {"bearer"}, "scope": {r.PostForm.Get("scope")}}.Encode()))
}

func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	u, found := s.token[tok]
	s.mu.Unlock()
	if !ok || !found {
		writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
		return Identity{}, false
	}
	return u, true
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.bearer(w, r); ok {
		writeJSON(w, 200, map[string]any{"sub": u.Subject, "email": u.Email, "email_verified": u.EmailVerified, "name": u.Name})
	}
}

func (s *Server) githubUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.bearer(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(u.Subject, 10, 64)
	// GitHub's public profile address may be empty or any address; the
	// provider must not use it.
	writeJSON(w, 200, map[string]any{"id": id, "login": "user" + u.Subject, "name": u.Name, "email": nil})
}

func (s *Server) githubEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := s.bearer(w, r)
	if !ok {
		return
	}
	list := []map[string]any{}
	for _, e := range u.OtherEmails {
		list = append(list, map[string]any{"email": e, "primary": false, "verified": true, "visibility": nil})
	}
	list = append(list, map[string]any{"email": u.Email, "primary": true, "verified": u.EmailVerified, "visibility": "private"})
	writeJSON(w, 200, list)
}
