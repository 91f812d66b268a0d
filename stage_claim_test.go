package intellistack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/testutil"
)

// The tutor's stage limit, end to end: an operator sets a student's stage
// with `intellistack user set-claim`, oidc_provider (claims stage) puts it
// in the student's next access token, bearer_jwt (claim stage) exposes it
// and the tutor retrieves passages up to that stage and never beyond; an
// instructor made with `intellistack user create --role instructor` sees
// every stage.
func TestStageClaimFromCLIToTutor(t *testing.T) {
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
		claims stage course
	}

	handle /api/v1/chatkit {
		route {
			bearer_jwt {
				issuer https://localhost:__HTTPS_PORT__
				claim stage
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
}`, database))
		issuer := c.URL("")
		ctx := oidc.ClientContext(context.Background(), c.Client)
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := oauth2.Config{ClientID: "web", Endpoint: provider.Endpoint(), RedirectURL: issuer + "/auth/callback",
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
		token := func(cb *url.URL, verifier string) string {
			t.Helper()
			tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			return tok.AccessToken
		}
		cli := func(stdin string, args ...string) {
			t.Helper()
			testutil.SkipIfShort(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "INTELLISTACK_TESTUTIL_COMMAND="+strings.Join(append(args, "--database", database), "\x1f"))
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("intellistack %v: %v\n%s", args, err, out)
			}
		}
		chat := func(token, question string) string {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"type": "threads.create", "params": map[string]any{"input": map[string]any{
				"content": []any{map[string]any{"type": "input_text", "text": question}}, "attachments": []any{}, "inference_options": map[string]any{}}}})
			req, _ := http.NewRequest(http.MethodPost, c.URL("/api/v1/chatkit"), strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(b), "retrieval-only mode") {
				t.Fatalf("chat: %d\n%s", resp.StatusCode, b)
			}
			return string(b)
		}
		const (
			functionsQ  = "How do I define my own function with parameters?"
			exceptionsQ = "My program crashes with a ValueError; how do I catch errors?"
			filesQ      = "How can I save the gradebook results to disk?"
		)
		// A passage shows as a citation of its lesson file; a locked lesson
		// may be named by its title only ("… (stage 3) covers this").
		stage3 := []string{"stage-3/", "Parameters and arguments"}
		stage4 := []string{"stage-4/", "Raising your own"}

		// A new student: no stage claim, so stage 1.
		verifier := oauth2.GenerateVerifier()
		cb := signUpThroughPages(t, c, conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)), issuer+"/auth/callback")
		first := token(cb, verifier)
		if claims := jwtPayload(t, first); claims["stage"] != nil || claims["role"] != "student" {
			t.Fatalf("new student's token: %v", claims)
		}
		if stream := chat(first, functionsQ); containsAny(stream, stage3) || !strings.Contains(stream, "“Defining functions” (stage 3) covers this") {
			t.Fatalf("a stage-1 student got stage-3 passages, or was not told where functions are taught:\n%s", stream)
		}

		// The operator unlocks stage 3; the next access token carries it.
		cli("", "user", "set-claim", "student@example.com", "stage", "3")
		verifier = oauth2.GenerateVerifier()
		cb = signInThroughPages(t, c, conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), issuer+"/auth/callback",
			"student@example.com", "Correct-Horse-42!")
		next := token(cb, verifier)
		if claims := jwtPayload(t, next); claims["stage"] != float64(3) {
			t.Fatalf("token after set-claim: %v", claims)
		}
		if stream := chat(next, functionsQ); !containsAny(stream, stage3) {
			t.Fatalf("a stage-3 student did not get the stage-3 passages:\n%s", stream)
		}
		for _, q := range []string{exceptionsQ, filesQ} {
			if stream := chat(next, q); containsAny(stream, stage4) {
				t.Fatalf("a stage-3 student got stage-4 passages for %q:\n%s", q, stream)
			}
		}

		// Staff see every stage: the same questions bring the stage-4
		// passages (so the checks above could fail).
		cli("Teach-Python-2026!\n", "user", "create", "--email", "ivy@example.com", "--role", "instructor", "--verified", "--password-stdin")
		verifier = oauth2.GenerateVerifier()
		cb = signInThroughPages(t, c, conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(verifier)), issuer+"/auth/callback",
			"ivy@example.com", "Teach-Python-2026!")
		staff := token(cb, verifier)
		if stream := chat(staff, exceptionsQ); !containsAny(stream, stage4) {
			t.Fatalf("an instructor did not get stage-4 passages:\n%s", stream)
		}
	})
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func jwtPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("bad JWT payload")
	}
	return m
}

// signInThroughPages signs in on the hosted page in a fresh browser and
// returns the redirect back to the client.
func signInThroughPages(t *testing.T, c *testutil.Caddy, authURL, stop, email, password string) *url.URL {
	t.Helper()
	browser := c.NewClient()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			page := string(b)
			m := formRE.FindStringSubmatch(page)
			if m == nil || m[2] != "sign-in" {
				t.Fatalf("no sign-in form (status %d):\n%s", resp.StatusCode, page)
			}
			rest := page[strings.Index(page, m[0]):]
			rest = rest[:strings.Index(rest, "</form>")]
			vals := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(rest, -1) {
				vals.Set(h[1], strings.ReplaceAll(h[2], "&amp;", "&"))
			}
			vals.Set("email", email)
			vals.Set("password", password)
			action, _ := resp.Request.URL.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
			if resp, err = browser.PostForm(action.String(), vals); err != nil {
				t.Fatal(err)
			}
			continue
		}
		next, _ := resp.Request.URL.Parse(loc)
		if strings.HasPrefix(next.String(), stop) {
			return next
		}
		if resp, err = browser.Get(next.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("sign-in did not reach the client")
	return nil
}
