// Package betterauthclient drives better_auth_api with the official
// better-auth npm client (client.mjs, run by node) through Caddy.
package betterauthclient

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "github.com/intellistack/intellistack"
	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestMain(m *testing.M) { testutil.Main(m) }

const siteCaddyfile = `{
	intellistack {
		database %s
		secret client-test-secret-0123456789abcdef
	}
}

https://localhost {
	better_auth_api {
		trusted_origins https://app.test
		secret {env.BETTER_AUTH_SECRET}
		change_email
		delete_user
	}
	oidc_provider {
		issuer https://localhost:%d
		client web {
			redirect_uri https://app.test/callback
			secret web-client-secret-value-0123456789
		}
		mail {
			from "Course <noreply@localhost>"
			outbox %s
		}
		ip_limit off
		lockout off
		upstream github {
			issuer %s
			client_id gh-client
			client_secret gh-secret
			trusted_ca %s
		}
	}
	respond "passed through" 200
}
`

// TestBetterAuthClient runs client.mjs (sign-up, sign-in, get-session,
// token and jwks, list/revoke sessions, change and reset password,
// verification, sign-out, the admin plugin's list-users, set-role, ban and
// unban, social sign-in with GitHub (a fake speaking GitHub's OAuth and
// API), and the error cases) against the server. Without
// node or node_modules (`npm ci` in this folder) it skips, or fails with
// CI set.
func TestBetterAuthClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("node_modules/better-auth/package.json")
	}
	if err != nil {
		if testutil.InCI() {
			t.Fatalf("node and node_modules are required (npm ci in test/clients/better-auth): %v", err)
		}
		t.Skipf("node or node_modules missing (npm ci --ignore-scripts): %v", err)
	}
	github := fakeupstream.NewGitHub("gh-client", "gh-secret")
	defer github.Close()
	github.Set(fakeupstream.Identity{Subject: "5150", Email: "octo@example.com", EmailVerified: true, Name: "Octo Cat"})
	githubCA := github.CAFile(t.TempDir())
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c, outbox := startSite(t, database, github.URL, githubCA)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "client.mjs")
		cmd.Env = append(os.Environ(),
			"BASE_URL="+c.URL(""), "ORIGIN=https://app.test", "OUTBOX="+outbox, "ADMIN_EMAIL=admin@example.com", "GITHUB_URL="+github.URL,
			// Caddy's internal CA is not in Node's store; the test trusts it.
			"NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_NO_WARNINGS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("client.mjs:\n%s", out)
		if err != nil || !strings.Contains(string(out), "ALL OK") {
			t.Fatalf("client.mjs failed: %v", err)
		}
	})
}

// startSite starts Caddy with siteCaddyfile on database (after a bootstrap
// config, since the issuer names the port), with admin@example.com made;
// it returns the server and its mail outbox.
func startSite(t *testing.T, database, githubURL, githubCA string) (*testutil.Caddy, string) {
	t.Helper()
	outbox := t.TempDir()
	os.Setenv("BETTER_AUTH_SECRET", "better-auth-client-secret-0123456789abcdef")
	c := testutil.StartCaddy(t, fmt.Sprintf("{\n\tintellistack {\n\t\tdatabase %s\n\t\tsecret client-test-secret-0123456789abcdef\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n", database))
	if err := c.Load(fmt.Sprintf(siteCaddyfile, database, c.HTTPSPort, outbox, githubURL, githubCA)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c)
	createAdmin(t, database)
	return c, outbox
}

// waitFor waits until the loaded config answers (the bootstrap server may
// take new connections for a moment after the reload).
func waitFor(t *testing.T, c *testutil.Caddy) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for ok := 0; ok < 20; {
		resp, err := c.NewClient().Get(c.URL("/api/auth/ok"))
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == 200 {
			ok++
			continue
		}
		ok = 0
		if time.Now().After(deadline) {
			t.Fatalf("the config never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createAdmin adds admin@example.com (role admin) to the database Caddy
// migrated, as `intellistack user` would.
func createAdmin(t *testing.T, database string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, database, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := password.Hash("Correct-Horse-42", password.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := storage.New(db).CreateUser(ctx, storage.User{Email: "admin@example.com", Name: "Admin", Role: "admin",
		EmailVerified: true, CreatedAt: now, UpdatedAt: now}, hash); err != nil {
		t.Fatal(err)
	}
}
