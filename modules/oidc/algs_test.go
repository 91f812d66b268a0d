package oidc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
)

// TestSelectableAlgorithms: ES256 and EdDSA tokens verify with go-oidc
// (signature, at_hash with the algorithm's hash) and discovery advertises
// the algorithm.
func TestSelectableAlgorithms(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			c, issuer := startProvider(t, testutil.SQLitePath(t), "signing_alg "+alg)
			e := &env{t: t, c: c, issuer: issuer}
			ctx := oidc.ClientContext(context.Background(), c.Client)
			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatal(err)
			}
			br := e.signedIn("alg@example.com")
			pk := newPKCE()
			body := e.exchange("web", e.code(br, e.authParams("web", &pk, nil)), &pk)
			idt, err := provider.Verifier(&oidc.Config{ClientID: "web", SupportedSigningAlgs: []string{alg}}).Verify(ctx, body["id_token"].(string))
			if err != nil {
				t.Fatalf("verify %s ID token: %v", alg, err)
			}
			if err := idt.VerifyAccessToken(body["access_token"].(string)); err != nil {
				t.Fatalf("at_hash with %s: %v", alg, err)
			}
			if h := decodeJWT(t, body["access_token"].(string)).header; h["alg"] != alg {
				t.Fatalf("access token alg %v", h["alg"])
			}
			if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: body["access_token"].(string)})); err != nil {
				t.Fatalf("userinfo: %v", err)
			}
		})
	}
}

// TestTemplateOverride: a file in the templates directory replaces the
// embedded page of the same name; a template that fails to parse is refused
// at load.
func TestTemplateOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	custom := `{{define "sign-in"}}{{template "top" .}}<p id="brand">Welcome to Learn</p>
<form method="post" action="{{.Action}}" id="sign-in"><input type="hidden" name="csrf_token" value="{{.CSRF}}"></form>{{template "bottom" .}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "sign-in.html"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	pg, err := loadPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := pg.tmpl.ExecuteTemplate(&sb, "sign-in", map[string]any{"Title": "Sign in", "Action": "/x", "CSRF": "t"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "Welcome to Learn") {
		t.Fatalf("override not used: %s", sb.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "consent.html"), []byte(`{{define "consent"}}{{.Broken`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPages(dir); err == nil {
		t.Fatal("a broken template was accepted")
	}
	if _, err := loadPages(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing templates directory was accepted")
	}
}
