package jwtauth_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/jwtauth"
	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
	_ "github.com/intellistack/intellistack/modules/oidc"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// bearerReply is one answer of a bearer_jwt route.
type bearerReply struct {
	status int
	body   string
	reason string // of a refusal
}

func getWithToken(t *testing.T, c *testutil.Caddy, path, token string) bearerReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL(path), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var refusal struct {
		Error struct{ Reason string } `json:"error"`
	}
	_ = json.Unmarshal(b, &refusal)
	return bearerReply{resp.StatusCode, string(b), refusal.Error.Reason}
}

// An ID token of the platform's own provider is signed by the same keys as
// its access tokens; bearer_jwt must still refuse it as a bearer token
// (RFC 9068 §2.1 typ, and aud naming a client, OpenID Connect Core 1.0 §2).
func TestCaddyRefusesTheProvidersIDToken(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client web {
			redirect_uri https://localhost:__HTTPS_PORT__/auth/callback
			public
			skip_consent
		}
	}
	handle /api {
		bearer_jwt {
			issuer https://localhost:__HTTPS_PORT__
		}
		respond "api {http.auth.user.id}"
	}
	handle /any-typ {
		bearer_jwt {
			issuer https://localhost:__HTTPS_PORT__
			audience https://localhost:__HTTPS_PORT__
			allow_any_typ
		}
		respond "any-typ {http.auth.user.id}"
	}
	handle /any-typ-any-aud {
		bearer_jwt {
			issuer https://localhost:__HTTPS_PORT__
			allow_any_typ
		}
		respond "any-aud {http.auth.user.id}"
	}
	handle {
		respond "front end"
	}
}`)
	access, id := signUpForTokens(t, c)
	if r := getWithToken(t, c, "/api", access); r.status != 200 || !strings.HasPrefix(r.body, "api ") {
		t.Fatalf("access token: %d %q", r.status, r.body)
	}
	if r := getWithToken(t, c, "/api", id); r.status != 401 || r.reason != "wrong_token_type" {
		t.Fatalf("ID token as a bearer token: %d %q", r.status, r.body)
	}
	// With the typ check relaxed, the audience still tells them apart.
	if r := getWithToken(t, c, "/any-typ", access); r.status != 200 {
		t.Fatalf("access token, allow_any_typ: %d %q", r.status, r.body)
	}
	if r := getWithToken(t, c, "/any-typ", id); r.status != 401 || r.reason != "wrong_audience" {
		t.Fatalf("ID token, allow_any_typ: %d %q", r.status, r.body)
	}
	// Without an audience either, the provider's client ids (registered
	// with the config) still refuse its ID tokens.
	if r := getWithToken(t, c, "/any-typ-any-aud", access); r.status != 200 {
		t.Fatalf("access token, allow_any_typ, no audience: %d %q", r.status, r.body)
	}
	if r := getWithToken(t, c, "/any-typ-any-aud", id); r.status != 401 || r.reason != "wrong_audience" {
		t.Fatalf("ID token, allow_any_typ, no audience: %d %q", r.status, r.body)
	}
}

// testLocalIssuer stands in for an OpenID provider registering with the
// config through jwtauth.RegisterLocalIssuer (keys in-process, client ids
// known): `test_local_issuer <issuer> <client_id…>`, keys from localKeys.
type testLocalIssuer struct {
	Issuer    string   `json:"issuer"`
	ClientIDs []string `json:"client_ids"`
}

// localKeys is the JWKS every testLocalIssuer publishes.
var localKeys []byte

func (testLocalIssuer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.test_local_issuer", New: func() caddy.Module { return new(testLocalIssuer) }}
}

func (p *testLocalIssuer) Provision(ctx caddy.Context) error {
	keys := localKeys
	return jwtauth.RegisterLocalIssuer(ctx, p.Issuer, bearer.LocalIssuer{
		JWKS:      func(context.Context) ([]byte, error) { return keys, nil },
		ClientIDs: p.ClientIDs,
	})
}

func (testLocalIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

func init() {
	caddy.RegisterModule(testLocalIssuer{})
	httpcaddyfile.RegisterHandlerDirective("test_local_issuer", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		p := &testLocalIssuer{}
		if !h.NextArg() {
			return nil, h.ArgErr()
		}
		p.Issuer = h.Val()
		p.ClientIDs = h.RemainingArgs()
		return p, nil
	})
	httpcaddyfile.RegisterDirectiveOrder("test_local_issuer", httpcaddyfile.Before, "basic_auth")
}

// An in-process issuer that registers its client ids: a token addressed to
// one of its clients is refused even with allow_any_typ and no audience,
// unless audience lists that client. The keys come from the registration
// (nothing listens at the issuer URL).
func TestCaddyInProcessIssuerClientIDs(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	localKeys = jwttest.JWKSDoc(t, a)
	c := testutil.StartCaddy(t, `https://localhost {
	test_local_issuer https://local.invalid web mobile
	handle /any-typ {
		bearer_jwt {
			issuer https://local.invalid
			allow_any_typ
		}
		respond "ok {http.auth.user.id}"
	}
	handle /for-web {
		bearer_jwt {
			issuer https://local.invalid
			audience web
			allow_any_typ
		}
		respond "web {http.auth.user.id}"
	}
}`)
	claims := func(aud any) map[string]any {
		cl := jwttest.Claims(time.Now(), "https://local.invalid", "", "u1")
		cl["aud"] = aud
		return cl
	}
	for _, tc := range []struct {
		path   string
		aud    any
		status int
		reason string
	}{
		{"/any-typ", "https://local.invalid", 200, ""},
		{"/any-typ", "web", 401, "wrong_audience"},
		{"/any-typ", []string{"https://local.invalid", "mobile"}, 401, "wrong_audience"},
		{"/for-web", "web", 200, ""},
		{"/for-web", "mobile", 401, "wrong_audience"},
	} {
		r := getWithToken(t, c, tc.path, jwttest.SignRS256Typ(t, a, "JWT", claims(tc.aud)))
		if r.status != tc.status || r.reason != tc.reason {
			t.Fatalf("%s aud %v: %d %q, want %d %s", tc.path, tc.aud, r.status, r.body, tc.status, tc.reason)
		}
	}
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)" id="([^"]+)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signUpForTokens plays a browser and a public client: authorization code
// with PKCE through the hosted sign-up page, then the token endpoint. It
// returns the access token and the ID token.
func signUpForTokens(t *testing.T, c *testutil.Caddy) (access, id string) {
	t.Helper()
	issuer := c.URL("")
	conf := oauth2.Config{ClientID: "web", RedirectURL: issuer + "/auth/callback", Scopes: []string{"openid", "email", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	browser := c.NewClient()
	get := func(u string) (*http.Response, string) {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	form := func(page, id string) (string, url.Values) {
		for _, m := range formRE.FindAllStringSubmatchIndex(page, -1) {
			if page[m[4]:m[5]] != id {
				continue
			}
			rest := page[m[1]:]
			rest = rest[:strings.Index(rest, "</form>")]
			vals := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(rest, -1) {
				vals.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
			}
			return html.UnescapeString(page[m[2]:m[3]]), vals
		}
		t.Fatalf("no form %q in:\n%s", id, page)
		return "", nil
	}
	resp, page := get(conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n0nce")))
	for i := 0; i < 5 && resp.Header.Get("Location") != ""; i++ {
		next, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
		resp, page = get(next.String())
	}
	_, signIn := form(page, "sign-in")
	_, page = get(c.URL("/oauth2/sign-up?request_id=" + url.QueryEscape(signIn.Get("request_id"))))
	action, vals := form(page, "sign-up")
	vals.Set("email", "student@example.com")
	vals.Set("name", "Sam Student")
	vals.Set("password", "Correct-Horse-42!")
	base, _ := url.Parse(c.URL("/"))
	actionURL, _ := base.Parse(action)
	resp, err := browser.PostForm(actionURL.String(), vals)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var code string
	for i := 0; i < 5 && code == ""; i++ {
		loc := resp.Header.Get("Location")
		if loc == "" {
			t.Fatalf("sign-up ended without a redirect (status %d)", resp.StatusCode)
		}
		next, _ := resp.Request.URL.Parse(loc)
		if strings.HasPrefix(next.String(), conf.RedirectURL) {
			code = next.Query().Get("code")
			break
		}
		resp, _ = get(next.String())
	}
	if code == "" {
		t.Fatal("no authorization code after sign-up")
	}
	tok, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, c.Client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	id, _ = tok.Extra("id_token").(string)
	if tok.AccessToken == "" || id == "" {
		t.Fatalf("token response without an access or ID token: %+v", tok)
	}
	return tok.AccessToken, id
}
