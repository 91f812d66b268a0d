package intellistack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// The whole platform in one Caddy, as design.md draws it: a student signs up
// on the hosted pages of oidc_provider through a real relying party
// (go-oidc + x/oauth2, PKCE), then uses the access token on the ChatKit
// endpoint, where bearer_jwt takes the provider's keys in-process,
// request_quota counts messages and the tutor answers from the sample course.
func TestPlatformEndToEnd(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, fmt.Sprintf(`{
	intellistack {
		database %q
		secret platform-test-secret-0123456789
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client web {
			redirect_uri https://localhost:__HTTPS_PORT__/auth/callback
			public
			skip_consent
		}
	}

	handle /api/v1/chatkit {
		route {
			bearer_jwt {
				issuer https://localhost:__HTTPS_PORT__
			}
			@send chatkit_op threads.create threads.add_user_message threads.retry_after_item
			request_quota @send {
				key {http.auth.user.id}
				limit 2 per 24h
				exempt_roles instructor admin
			}
			chatkit {
				responder tutor {
					retriever lexical {
						path examples/course
					}
				}
			}
		}
	}

	handle {
		respond "front end"
	}
}`, database))
		issuer := c.URL("")
		ctx := oidc.ClientContext(context.Background(), c.Client)
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := oauth2.Config{ClientID: "web", Endpoint: provider.Endpoint(), RedirectURL: issuer + "/auth/callback",
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
		verifier := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce"))

		callback := signUpThroughPages(t, c, authURL, issuer+"/auth/callback")
		if callback.Query().Get("state") != "st4te" || callback.Query().Get("iss") != issuer {
			t.Fatalf("callback %s", callback)
		}
		tok, err := conf.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, rawID)
		if err != nil || idToken.Nonce != "n0nce" {
			t.Fatalf("ID token: %v (nonce %q)", err, idToken.Nonce)
		}

		chat := func(token string) (*http.Response, string) {
			body := `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"How do I turn the text \"42\" into a number?"}],"attachments":[],"inference_options":{}}}}`
			req, _ := http.NewRequest(http.MethodPost, c.URL("/api/v1/chatkit"), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := c.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		for i := 1; i <= 2; i++ {
			resp, stream := chat(tok.AccessToken)
			if resp.StatusCode != 200 || !strings.Contains(stream, "retrieval-only mode") || !strings.Contains(stream, "Converting between types") {
				t.Fatalf("message %d: %d\n%s", i, resp.StatusCode, stream)
			}
		}
		resp, body := chat(tok.AccessToken)
		var refusal struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &refusal)
		if resp.StatusCode != 429 || refusal.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third message: %d %s", resp.StatusCode, body)
		}
		if resp, body := chat(""); resp.StatusCode != 401 || !strings.Contains(body, "error") {
			t.Fatalf("no token: %d %s", resp.StatusCode, body)
		}
		if resp, _ := chat(tok.AccessToken + "x"); resp.StatusCode != 401 {
			t.Fatalf("tampered token: %d", resp.StatusCode)
		}
		if resp, err := c.Client.Get(c.URL("/")); err != nil || resp.StatusCode != 200 {
			t.Fatalf("front end passed on: %v %v", resp, err)
		}
	})
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)" id="([^"]+)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signUpThroughPages plays the browser: it follows the authorization URL to
// the hosted sign-in page, switches to sign-up, submits the form with its CSRF
// fields, and returns the redirect back to the client.
func signUpThroughPages(t *testing.T, c *testutil.Caddy, authURL, stop string) *url.URL {
	t.Helper()
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
	resp, page := get(authURL)
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
	target, _ := url.Parse(c.URL("/"))
	actionURL, _ := target.Parse(action)
	resp, err := browser.PostForm(actionURL.String(), vals)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i := 0; i < 5; i++ {
		loc := resp.Header.Get("Location")
		if loc == "" {
			t.Fatalf("sign-up ended without a redirect (status %d)", resp.StatusCode)
		}
		next, _ := resp.Request.URL.Parse(loc)
		if strings.HasPrefix(next.String(), stop) {
			return next
		}
		resp, _ = get(next.String())
	}
	t.Fatal("too many redirects after sign-up")
	return nil
}
