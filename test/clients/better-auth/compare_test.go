package betterauthclient

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellistack/intellistack/internal/fakeupstream"
	"github.com/intellistack/intellistack/internal/testutil"
)

// referenceServer is the real Better-Auth 1.7 (email and password, jwt and
// admin plugins) of ../better-auth-server, on PostgreSQL.
const referenceServer = "../better-auth-server"

// knownDifferences are the steps where IntelliStack deliberately answers
// otherwise than Better-Auth's defaults, with the reason. Every other step
// must match in status, error code and shape.
var knownDifferences = map[string]string{
	// Better-Auth's jwt plugin signs with EdDSA (Ed25519) by default; the
	// API signs with the provider's RS256 keys, so one JWKS serves both
	// and every relying party (go-oidc, oauth2-proxy) verifies them. jose
	// (what Better-Auth's clients verify with) reads either from the JWKS.
	// The header says typ JWT (RFC 8725's explicit typing).
	"token: JWT header": "RS256 keys with typ, not EdDSA",
	"jwks":              "RSA keys (n, e, use), not Ed25519 (crv, x)",
	// A changed password ends every other session and re-issues the
	// current one (the hosted pages' rule): the answer carries the new
	// session's token, as Better-Auth's does with revokeOtherSessions: true.
	"change-password": "other sessions always revoked, so a new token",
	// The provider's sessions are also the hosted pages' and every relying
	// party's, and do not record who is behind an impersonated one, so
	// better_auth_api refuses impersonation as a Better-Auth whose roles do
	// not grant it.
	"impersonate-user": "impersonation refused: 403 YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
	// Following change-email's link, mailed to the new address, proves
	// the new address: the provider marks it verified, where Better-Auth
	// 1.7.25 keeps the old address's verified flag (false for a user who
	// never verified, who then needs a second mail).
	"verify-email: change of address, verified": "the new address is verified by following its link",
}

// TestCompareWithBetterAuth runs compare.mjs (one scripted session through
// the official client: sign-up, sign-in, sessions, token and JWKS,
// password change and reset, verification, change of address and account
// deletion, the admin plugin with its account management, the error
// cases) against a real Better-Auth server and against better_auth_api,
// both on PostgreSQL, and diffs what a front end can observe of each step:
// status, error code and the shape of the answer.
func TestCompareWithBetterAuth(t *testing.T) {
	node := requireNode(t, ".", referenceServer)
	pgURL := testutil.PostgresURL(t)

	// The reference: Better-Auth's own migrations into a fresh schema.
	refOutbox := t.TempDir()
	ref := startReference(t, node, pgURL, refOutbox)
	makeReferenceAdmin(t, ref, pgURL)

	github := fakeupstream.NewGitHub("gh-client", "gh-secret")
	defer github.Close()
	ours, ourOutbox := startSite(t, testutil.PostgresURL(t), github.URL, github.CAFile(t.TempDir()))

	theirs := runCompare(t, node, ref, refOutbox, nil)
	mine := runCompare(t, node, ours.URL(""), ourOutbox, []string{"NODE_TLS_REJECT_UNAUTHORIZED=0"})

	byStep := func(rs []map[string]any) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, r := range rs {
			m[r["step"].(string)] = r
		}
		return m
	}
	them, us := byStep(theirs), byStep(mine)
	var table strings.Builder
	fmt.Fprintf(&table, "%-36s %-10s %-10s %s\n", "step", "Better-Auth", "ours", "")
	differ := 0
	for _, r := range theirs {
		step := r["step"].(string)
		o := us[step]
		verdict := "same"
		switch {
		case o == nil:
			verdict = "MISSING on ours"
		case !reflect.DeepEqual(r, o):
			if why, ok := knownDifferences[step]; ok {
				verdict = "known: " + why
			} else {
				verdict = "DIFFERENT"
				differ++
				t.Errorf("%s:\n  Better-Auth: %s\n  ours:        %s", step, compact(r), compact(o))
			}
		}
		fmt.Fprintf(&table, "%-36s %-10v %-10v %s\n", step, r["status"], statusOf(o), verdict)
	}
	for step := range us {
		if them[step] == nil {
			t.Errorf("%s: only on ours", step)
		}
	}
	t.Logf("compare.mjs, %d steps, %d unexplained differences:\n%s", len(theirs), differ, table.String())
}

func statusOf(r map[string]any) any {
	if r == nil {
		return "-"
	}
	return r["status"]
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// requireNode returns node's path once each folder has its node_modules;
// without them the test skips, or fails with CI set.
func requireNode(t *testing.T, dirs ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	for _, d := range dirs {
		if err == nil {
			_, err = os.Stat(filepath.Join(d, "node_modules/better-auth/package.json"))
		}
	}
	if err != nil {
		if testutil.InCI() {
			t.Fatalf("node and node_modules are required (npm ci --ignore-scripts in %v): %v", dirs, err)
		}
		t.Skipf("node or node_modules missing (npm ci --ignore-scripts in %v): %v", dirs, err)
	}
	return node
}

// nodePostgresURL turns a test schema URL (search_path as a parameter, as
// pgx reads it) into one node-postgres reads (options=-c search_path=…).
func nodePostgresURL(t *testing.T, pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path")
	q.Del("sslmode")
	q.Set("options", "-c search_path="+schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// startReference starts server.mjs with Better-Auth's migrations and
// returns its base URL once it listens.
func startReference(t *testing.T, node, pgURL, outbox string) string {
	t.Helper()
	// BASE_URL must be the address clients use (the server builds its
	// mailed links from it), so the port is chosen here.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	base := "http://127.0.0.1:" + port
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs")
	cmd.Dir = referenceServer
	cmd.Env = append(os.Environ(), "DATABASE_URL="+nodePostgresURL(t, pgURL), "MIGRATE=1", "PORT="+port, "BASE_URL="+base, "OUTBOX="+outbox,
		"BETTER_AUTH_SECRET=better-auth-client-secret-0123456789abcdef", "TRUSTED_ORIGINS=https://app.test", "NODE_NO_WARNINGS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Better-Auth server stderr:\n%s", stderr.String())
		}
	})
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening ") {
				listening <- true
			}
		}
		close(listening)
	}()
	select {
	case _, ok := <-listening:
		if !ok {
			t.Fatalf("the Better-Auth server stopped:\n%s", stderr.String())
		}
		return base
	case <-time.After(60 * time.Second):
		t.Fatalf("the Better-Auth server did not start:\n%s", stderr.String())
	}
	return ""
}

// makeReferenceAdmin signs admin@example.com up on the reference and gives
// it the role admin in its database, as an operator would.
func makeReferenceAdmin(t *testing.T, base, pgURL string) {
	t.Helper()
	body := strings.NewReader(`{"name":"Admin","email":"admin@example.com","password":"Correct-Horse-42"}`)
	req, _ := http.NewRequest("POST", base+"/api/auth/sign-up/email", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://app.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin sign-up on the reference: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE "user" SET role = 'admin' WHERE email = 'admin@example.com'`); err != nil {
		t.Fatal(err)
	}
}

// runCompare runs compare.mjs against base and returns its record.
func runCompare(t *testing.T, node, base, outbox string, env []string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "compare.mjs")
	cmd.Env = append(append(os.Environ(), "BASE_URL="+base, "ORIGIN=https://app.test", "OUTBOX="+outbox,
		"ADMIN_EMAIL=admin@example.com", "NODE_NO_WARNINGS=1"), env...)
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var rec []map[string]any
	if err != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &rec) != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("compare.mjs against %s: %v\n%s\n%s", base, err, out, stderr)
	}
	return rec
}
