package oidc

import (
	"bytes"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// The test that signs in through oauth2-proxy, an independent and widely
// deployed relying party, in its default configuration: in particular
// without --insecure-oidc-allow-unverified-email, so it refuses an ID token
// that says email_verified false and lets the user in once the address is
// verified. CI installs the pinned binary (.ci/run); elsewhere:
//
//	go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6

const (
	oauth2ProxyVersion = "v7.15.6"
	proxyClientSecret  = "proxy-client-secret-0123456789"
)

// oauth2ProxyPath finds the oauth2-proxy binary on PATH, in $GOBIN or in
// $(go env GOPATH)/bin; without it the test skips with a message, or fails
// when CI is set.
func oauth2ProxyPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("oauth2-proxy"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, gp := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(gp, "bin"))
			}
		}
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "oauth2-proxy")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := "oauth2-proxy is not installed (looked on PATH, in $GOBIN and $(go env GOPATH)/bin); " +
		"go install github.com/oauth2-proxy/oauth2-proxy/v7@" + oauth2ProxyVersion + " to run this test"
	if testutil.InCI() {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// oauth2Proxy is a running oauth2-proxy child process.
type oauth2Proxy struct {
	url string // http://127.0.0.1:<port>
	out *syncBuffer
}

// waitLog waits (bounded) until the proxy's output contains s.
func (o *oauth2Proxy) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(o.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy never logged %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startOAuth2Proxy starts oauth2-proxy on port as a client of issuer,
// trusting the Caddy's internal CA, in front of a static 200 upstream; it
// waits until /ping answers and stops the process when the test ends, with
// its output in the test log when the test fails.
func startOAuth2Proxy(t *testing.T, bin string, c *testutil.Caddy, issuer string, port int) *oauth2Proxy {
	t.Helper()
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin,
		"--provider=oidc",
		"--oidc-issuer-url="+issuer,
		"--provider-ca-file="+filepath.Join(c.DataDir, "pki", "authorities", "local", "root.crt"),
		"--client-id=proxy",
		"--client-secret="+proxyClientSecret,
		"--cookie-secret="+hex.EncodeToString(secret), // 32 bytes
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream=static://200",
		"--http-address=127.0.0.1:"+strconv.Itoa(port),
		"--redirect-url="+base+"/oauth2/callback",
		"--skip-provider-button=true",
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting oauth2-proxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("oauth2-proxy (pid %d) did not exit after kill", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("oauth2-proxy output:\n%s", out.String())
		}
	})
	ping := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := ping.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &oauth2Proxy{url: base, out: out}
			}
		}
		select {
		case <-exited:
			t.Fatalf("oauth2-proxy exited at start: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not answer /ping on %s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walk follows redirects and allows consent until a page that is neither
// shows.
func (b *browser) walk(p *page) *page {
	b.t.Helper()
	for range 20 {
		switch {
		case p.location != "":
			if p.status < 300 || p.status > 399 {
				b.t.Fatalf("Location with status %d at %s", p.status, p.url)
			}
			p = b.get(p.location)
		case strings.Contains(p.body, `id="consent"`):
			action, vals := p.form(b.t, "consent")
			vals.Set("decision", "allow")
			p = b.post(action, vals)
		default:
			return p
		}
	}
	b.t.Fatalf("more than 20 steps, last at %s", p.url)
	return nil
}

// proxyUserInfo is oauth2-proxy's /oauth2/userinfo for the browser: the
// status and the e-mail.
func (b *browser) proxyUserInfo(proxy string) (int, string) {
	b.t.Helper()
	p := b.get(proxy + "/oauth2/userinfo")
	if p.status != http.StatusOK {
		return p.status, ""
	}
	var info struct {
		User  string `json:"user"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(p.body), &info); err != nil {
		b.t.Fatalf("oauth2-proxy userinfo %q: %v", p.body, err)
	}
	return p.status, info.Email
}

// TestOAuth2ProxySignsInAfterEmailVerification drives oauth2-proxy
// (external binary, default settings) against the provider with the mail
// outbox, on SQLite and PostgreSQL. Browser A signs up through the proxy
// and gets "check your inbox". Browser B signs in with the password while
// the address is unverified: the provider issues a code, and oauth2-proxy
// refuses the ID token (403, "isn't verified"). A follows the link from the
// outbox: the provider verifies the address and resumes A's authorization,
// and the proxy lets A in (GET / is the upstream's 200; /oauth2/userinfo has
// the e-mail). B signs in again through the proxy and is let in too.
func TestOAuth2ProxySignsInAfterEmailVerification(t *testing.T) {
	bin := oauth2ProxyPath(t)
	// A go-installed binary says "undefined" to --version; its build
	// information has the module version.
	if info, err := buildinfo.ReadFile(bin); err != nil {
		t.Logf("note: no Go build information in %s (%v); the pinned version is %s", bin, err, oauth2ProxyVersion)
	} else if info.Main.Version != oauth2ProxyVersion {
		t.Logf("note: %s is %s %s; the pinned version is %s", bin, info.Main.Path, info.Main.Version, oauth2ProxyVersion)
	}
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		const email = "proxied@example.com"
		port := freeLoopbackPort(t)
		proxy := "http://127.0.0.1:" + strconv.Itoa(port)
		dir := t.TempDir()
		c, issuer := startProvider(t, database, outboxBlock(dir)+fmt.Sprintf(`
		client proxy {
			redirect_uri %s/oauth2/callback
			secret %s
			scope openid email profile
			name "Proxied app"
		}`, proxy, proxyClientSecret))
		op := startOAuth2Proxy(t, bin, c, issuer, port)

		// Without a session the proxy answers 401 on its auth endpoint.
		anon := newBrowser(t, c)
		if p := anon.get(proxy + "/oauth2/auth"); p.status != http.StatusUnauthorized {
			t.Fatalf("/oauth2/auth without a cookie: %d", p.status)
		}

		// A: the proxy sends the browser to our sign-in page; sign up there.
		a := newBrowser(t, c)
		p := a.walk(a.get(proxy + "/"))
		if !strings.HasPrefix(p.url, issuer+"/oauth2/") || !strings.Contains(p.body, `id="sign-in"`) {
			t.Fatalf("the proxy did not lead to the sign-in page: %d %s\n%s", p.status, p.url, p.body)
		}
		_, vals := p.form(t, "sign-in")
		p = a.get(issuer + "/oauth2/sign-up?request_id=" + url.QueryEscape(vals.Get("request_id")))
		action, vals := p.form(t, "sign-up")
		vals.Set("email", email)
		vals.Set("name", "Proxied User")
		vals.Set("password", testPassword)
		if p = a.post(action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "Check your inbox") {
			t.Fatalf("sign-up answered %d:\n%s", p.status, p.body)
		}
		if st, _ := a.proxyUserInfo(proxy); st != http.StatusUnauthorized {
			t.Fatalf("proxy userinfo after sign-up: %d, want 401", st)
		}

		// B: a password sign-in while the address is unverified. The
		// provider lets it through (no require_verified_email), with
		// email_verified false; the proxy refuses it.
		b := newBrowser(t, c)
		p = b.walk(b.get(proxy + "/"))
		action, vals = p.form(t, "sign-in")
		vals.Set("email", email)
		vals.Set("password", testPassword)
		p = b.walk(b.post(action, vals))
		if !strings.HasPrefix(p.url, proxy+"/oauth2/callback?") || p.status != http.StatusForbidden {
			t.Fatalf("unverified sign-in through the proxy ended at %d %s, want 403 at its callback\n%s", p.status, p.url, p.body)
		}
		op.waitLog(t, "email in id_token ("+email+") isn't verified")
		if st, _ := b.proxyUserInfo(proxy); st != http.StatusUnauthorized {
			t.Fatalf("proxy userinfo after the refusal: %d, want 401", st)
		}
		if p = b.get(proxy + "/"); p.status == http.StatusOK {
			t.Fatal("the proxy served the upstream after refusing the sign-in")
		}

		// A follows the link from the outbox: verified, signed in, and A's
		// authorization resumed to the proxy, which lets A in.
		_, _, link := mailLink(t, outbox{dir}.wait(t, 1)[0])
		if !strings.Contains(link, "/oauth2/verify-email?token=") || !strings.Contains(link, "request_id=") {
			t.Fatalf("verification link %q", link)
		}
		p = a.walk(a.get(link))
		if p.url != proxy+"/" || p.status != http.StatusOK {
			t.Fatalf("after the verification link: %d %s, want 200 at %s/\n%s", p.status, p.url, proxy, p.body)
		}
		if st, got := a.proxyUserInfo(proxy); st != http.StatusOK || got != email {
			t.Fatalf("proxy userinfo for A: %d %q, want 200 %q", st, got, email)
		}
		if p = a.get(proxy + "/oauth2/auth"); p.status != http.StatusAccepted {
			t.Fatalf("/oauth2/auth with A's cookie: %d", p.status)
		}

		// B signs in again through the proxy: let in.
		p = b.walk(b.get(proxy + "/"))
		if strings.Contains(p.body, `id="sign-in"`) {
			action, vals = p.form(t, "sign-in")
			vals.Set("email", email)
			vals.Set("password", testPassword)
			p = b.walk(b.post(action, vals))
		}
		if p.url != proxy+"/" || p.status != http.StatusOK {
			t.Fatalf("B's second sign-in through the proxy: %d %s\n%s", p.status, p.url, p.body)
		}
		if st, got := b.proxyUserInfo(proxy); st != http.StatusOK || got != email {
			t.Fatalf("proxy userinfo for B: %d %q, want 200 %q", st, got, email)
		}
	})
}
