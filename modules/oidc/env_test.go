package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// clockOffset shifts the provider's clock in tests (max_age, code expiry)
// without sleeping.
var clockOffset atomic.Int64

func init() {
	timeNow = func() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) }
}

func advanceClock(d time.Duration) { clockOffset.Add(int64(d)) }

// env is a running provider for the conformance tests.
type env struct {
	t        *testing.T
	c        *testutil.Caddy
	issuer   string
	database string
}

func newEnv(t *testing.T, database string) *env {
	clockOffset.Store(0)
	t.Cleanup(func() { clockOffset.Store(0) })
	c, issuer := startProvider(t, database, "")
	return &env{t: t, c: c, issuer: issuer, database: database}
}

// signUp creates an account from the hosted page (no authorization request)
// and leaves the browser signed in.
func (e *env) signUp(br *browser, email string) {
	e.t.Helper()
	p := br.get(e.issuer + "/oauth2/sign-up")
	action, vals := p.form(e.t, "sign-up")
	vals.Set("email", email)
	vals.Set("name", "Test User")
	vals.Set("password", testPassword)
	if p = br.post(action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "signed in") {
		e.t.Fatalf("sign-up: %d %s", p.status, p.body)
	}
}

// signedIn returns a new browser with a fresh account, signed in.
func (e *env) signedIn(email string) *browser {
	br := newBrowser(e.t, e.c)
	e.signUp(br, email)
	return br
}

type pkcePair struct{ verifier, challenge string }

func newPKCE() pkcePair {
	v := randomToken(32)
	sum := sha256.Sum256([]byte(v))
	return pkcePair{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authParams builds an authorization request for a client.
func (e *env) authParams(client string, pk *pkcePair, extra url.Values) url.Values {
	redirect := map[string]string{"web": webRedirect, "spa": spaRedirect, "other": "https://other.test/callback"}[client]
	v := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st-" + randomToken(6)}, "nonce": {"n-" + randomToken(6)}}
	if pk != nil {
		v.Set("code_challenge", pk.challenge)
		v.Set("code_challenge_method", "S256")
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return v
}

// code runs an authorization request in a signed-in browser through consent
// and returns the callback URL.
func (e *env) code(br *browser, params url.Values) *url.URL {
	e.t.Helper()
	stop := params.Get("redirect_uri")
	p := br.follow(br.get(e.issuer+"/oauth2/authorize?"+params.Encode()), stop)
	if strings.Contains(p.body, `id="consent"`) {
		action, vals := p.form(e.t, "consent")
		vals.Set("decision", "allow")
		p = br.follow(br.post(action, vals), stop)
	}
	if !strings.HasPrefix(p.location, stop) {
		e.t.Fatalf("authorization did not reach %s: %d %s %s", stop, p.status, p.location, p.body)
	}
	u, _ := url.Parse(p.location)
	return u
}

var clientSecrets = map[string]string{"web": webSecret, "other": "other-secret-0123456789"}

// token posts to the token endpoint with client_secret_basic (or none for
// the public client).
func (e *env) token(client string, form url.Values) (*page, map[string]any) {
	e.t.Helper()
	if client == "spa" {
		form.Set("client_id", "spa")
		client = ""
	}
	p := postForm(e.t, e.c.Client, e.issuer+"/oauth2/token", form, client, clientSecrets[client])
	var body map[string]any
	if err := json.Unmarshal([]byte(p.body), &body); err != nil {
		e.t.Fatalf("token response is not JSON (%d): %q", p.status, p.body)
	}
	return p, body
}

// exchange redeems a code and requires success.
func (e *env) exchange(client string, cb *url.URL, pk *pkcePair) map[string]any {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {strings.Split(cb.String(), "?")[0]}}
	if pk != nil {
		form.Set("code_verifier", pk.verifier)
	}
	p, body := e.token(client, form)
	if p.status != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", p.status, p.body)
	}
	return body
}

// wantOAuthError checks a JSON error response.
func wantOAuthError(t *testing.T, p *page, status int, code string) {
	t.Helper()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(p.body), &body); err != nil {
		t.Fatalf("error body is not JSON (%d): %q", p.status, p.body)
	}
	if p.status != status || body.Error != code {
		t.Fatalf("got %d %q (%s), want %d %q", p.status, body.Error, body.Description, status, code)
	}
	if body.Description == "" || strings.ContainsAny(body.Description, "\r\n\t\"") {
		t.Fatalf("error_description %q is empty or has illegal characters", body.Description)
	}
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error content type %q", ct)
	}
}

// wantRedirectError checks an error sent to the redirect URI (with state and
// iss, RFC 9207).
func wantRedirectError(t *testing.T, p *page, params url.Values, code string) {
	t.Helper()
	u, err := url.Parse(p.location)
	if p.location == "" || err != nil || !strings.HasPrefix(p.location, params.Get("redirect_uri")+"?") {
		t.Fatalf("want a redirect to %s, got %d %q %s", params.Get("redirect_uri"), p.status, p.location, p.body)
	}
	q := u.Query()
	if q.Get("error") != code || q.Get("state") != params.Get("state") || q.Get("iss") == "" || q.Has("code") {
		t.Fatalf("error redirect %s: want error=%s with state and iss", p.location, code)
	}
}

// wantErrorPage checks an error shown on a page and never redirected.
func wantErrorPage(t *testing.T, p *page, code string) {
	t.Helper()
	if p.location != "" || p.status != http.StatusBadRequest || !strings.Contains(p.body, `data-error="`+code+`"`) {
		t.Fatalf("want a %s error page (400, no redirect), got %d Location=%q\n%s", code, p.status, p.location, p.body)
	}
}

// idClaims decodes an ID token's payload (the signature is checked by the
// go-oidc test; here the claims matter).
func idClaims(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	raw, _ := body["id_token"].(string)
	return decodeJWT(t, raw).payload
}
