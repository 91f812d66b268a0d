package testutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // what a real build has
)

// Caddy is a running Caddy under test: in this process (StartCaddy) or in a
// child process (StartCaddyProcess), on free loopback ports, with its own
// storage folder (so its own SQLite default and its own internal CA).
//
// Site addresses in the Caddyfile need no ports: the harness sets http_port
// and https_port, so `https://localhost { … }` is served at c.URL("/").
type Caddy struct {
	t         testing.TB
	AdminAddr string // host:port of the admin API
	HTTPPort  int
	HTTPSPort int
	DataDir   string // Caddy's storage root
	// Client trusts this Caddy's internal CA and dials every host name to
	// 127.0.0.1, so a site named learn.test works without DNS.
	Client *http.Client

	mu      sync.Mutex
	clients []*http.Client // to drop their idle connections after a reload; under mu

	proc    *exec.Cmd
	exited  chan struct{}
	procLog string
}

// inProcess guards the single in-process Caddy: Caddy's config is global.
var inProcess sync.Mutex

// StartCaddy starts Caddy in this process from a Caddyfile and stops it when
// the test ends. Tests that use it must not run in parallel.
func StartCaddy(t testing.TB, caddyfile string) *Caddy {
	t.Helper()
	SkipIfShort(t) // before taking the lock: a skip ends the test at once
	if !inProcess.TryLock() {
		t.Fatal("testutil: another in-process Caddy is running; tests using StartCaddy must not be parallel")
	}
	c := newCaddy(t)
	cfgJSON, err := c.Adapt(caddyfile)
	if err != nil {
		inProcess.Unlock()
		t.Fatalf("adapting Caddyfile: %v", err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		_ = caddy.Stop()
		inProcess.Unlock()
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		inProcess.Unlock()
	})
	c.waitReady(caddyfile)
	return c
}

// TryStartCaddy is StartCaddy for a config expected to fail: it returns the
// load error (and starts nothing) instead of failing the test.
func TryStartCaddy(t testing.TB, caddyfile string) error {
	t.Helper()
	SkipIfShort(t)
	c := newCaddy(t)
	cfgJSON, err := c.Adapt(caddyfile)
	if err != nil {
		return err
	}
	inProcess.Lock()
	defer inProcess.Unlock()
	err = caddy.Load(cfgJSON, true)
	_ = caddy.Stop()
	return err
}

// StartCaddyProcess starts Caddy in a child process (the test binary itself,
// see Main) and stops it when the test ends: for tests that need two Caddy
// nodes at once. Its log is shown when the test fails.
func StartCaddyProcess(t testing.TB, caddyfile string) *Caddy {
	t.Helper()
	return StartCaddyProcesses(t, caddyfile)[0]
}

// StartCaddyProcesses starts one child-process Caddy per Caddyfile, all at
// once (as nodes of a cluster booting together), then waits for each.
func StartCaddyProcesses(t testing.TB, caddyfiles ...string) []*Caddy {
	t.Helper()
	nodes := make([]*Caddy, len(caddyfiles))
	for i, cf := range caddyfiles {
		nodes[i] = spawnCaddy(t, cf)
	}
	for i, c := range nodes {
		c.waitAdmin()
		c.waitReady(caddyfiles[i])
	}
	return nodes
}

func spawnCaddy(t testing.TB, caddyfile string) *Caddy {
	t.Helper()
	c := newCaddy(t)
	body := c.Expand(caddyfile)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c.procLog = filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(c.procLog)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"="+cfgPath,
		"XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Caddy process: %v", err)
	}
	c.proc = cmd
	c.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.StopProcess()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(c.procLog); err == nil {
				t.Logf("log of Caddy process on %s:\n%s", c.AdminAddr, tail(string(b), 8000))
			}
		}
	})
	return c
}

// StopProcess stops a child-process Caddy gracefully (SIGINT, like Ctrl-C)
// and waits for it; it is safe to call twice.
func (c *Caddy) StopProcess() {
	if c.proc == nil || c.proc.Process == nil {
		return
	}
	_ = c.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.proc.Process.Kill()
		<-c.exited
	}
	c.proc = nil
}

// Log returns what a child-process Caddy has logged so far.
func (c *Caddy) Log() string {
	b, _ := os.ReadFile(c.procLog)
	return string(b)
}

// childEnv tells the test binary to run Caddy instead of tests; commandEnv
// to run a Caddy subcommand (arguments separated by \x1f).
const (
	childEnv   = "INTELLISTACK_TESTUTIL_CADDYFILE"
	commandEnv = "INTELLISTACK_TESTUTIL_COMMAND"
)

// RunCommand runs a subcommand of this build (`caddy <args…>`, as the
// intellistack binary would) in a child process and returns its combined
// output and exit status. The package needs Main as its TestMain.
func RunCommand(t testing.TB, env []string, args ...string) (string, int) {
	t.Helper()
	SkipIfShort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), commandEnv+"="+strings.Join(args, "\x1f")), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("running %v: %v", args, err)
	}
	return string(out), 0
}

// Main is the TestMain of packages that use StartCaddyProcess:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// In a child started by StartCaddyProcess it runs Caddy; otherwise the tests.
func Main(m *testing.M) {
	if args := os.Getenv(commandEnv); args != "" {
		os.Args = append([]string{"caddy"}, strings.Split(args, "\x1f")...)
		caddycmd.Main()
		os.Exit(0)
	}
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Args = []string{"caddy", "run", "--config", cfg, "--adapter", "caddyfile"}
		caddycmd.Main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newCaddy(t testing.TB) *Caddy {
	SkipIfShort(t)
	ports := freePorts(t, 3)
	// Not t.TempDir: certificate jobs of a stopped Caddy may still be writing
	// there for a moment, which makes TempDir's strict removal fail the test.
	dataDir, err := os.MkdirTemp("", "intellistack-caddy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	c := &Caddy{
		t:         t,
		AdminAddr: "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPPort:  ports[1],
		HTTPSPort: ports[2],
		DataDir:   dataDir,
	}
	c.Client = c.NewClient()
	return c
}

// Expand puts the harness's global options (ports, admin address, storage,
// no trust-store install, loopback binding) into a Caddyfile's global block,
// creating the block when there is none. The tokens __HTTPS_PORT__ and
// __HTTP_PORT__ become the ports, for values that must name them (an OpenID
// issuer URL, a redirect URI).
func (c *Caddy) Expand(caddyfile string) string {
	caddyfile = strings.NewReplacer("__HTTPS_PORT__", strconv.Itoa(c.HTTPSPort), "__HTTP_PORT__", strconv.Itoa(c.HTTPPort)).Replace(caddyfile)
	globals := fmt.Sprintf(`
	admin %s
	http_port %d
	https_port %d
	default_bind 127.0.0.1
	skip_install_trust
	persist_config off
	storage file_system %q
	log {
		level ERROR
	}
`, c.AdminAddr, c.HTTPPort, c.HTTPSPort, c.DataDir)
	// The global block is the first thing after blank and comment lines.
	rest := caddyfile
	for {
		trimmed := strings.TrimLeft(rest, " \t\r\n")
		if !strings.HasPrefix(trimmed, "#") {
			if strings.HasPrefix(trimmed, "{") {
				return caddyfile[:len(caddyfile)-len(trimmed)] + "{" + globals + trimmed[1:]
			}
			break
		}
		_, after, found := strings.Cut(trimmed, "\n")
		if !found {
			break
		}
		rest = after
	}
	return "{" + globals + "}\n" + caddyfile
}

// Adapt expands and adapts a Caddyfile to JSON.
func (c *Caddy) Adapt(caddyfile string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warnings, err := adapter.Adapt([]byte(c.Expand(caddyfile)), map[string]any{"filename": "Caddyfile"})
	for _, w := range warnings {
		c.t.Logf("Caddyfile warning: %s", w.String())
	}
	return cfg, err
}

// Load replaces the running config through the admin API, as `caddy reload
// --force` does. It returns the admin API's error for a config that fails.
func (c *Caddy) Load(caddyfile string) error {
	body := c.Expand(caddyfile)
	// A new connection each time: the admin server may be replaced by a load,
	// and a kept-alive connection to the old one fails with a reset.
	admin := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, "http://"+c.AdminAddr+"/load", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "text/caddyfile")
		req.Header.Set("Cache-Control", "must-revalidate")
		resp, err = admin.Do(req)
		if err == nil {
			break
		}
		// Every load, even one that then fails, replaces Caddy's admin
		// server and stops the old one in the background; a connection the
		// old one accepted meanwhile is closed without an answer. An operator
		// (or a script) sends the same load again, and loading one config
		// twice is harmless: so does this, twice at most.
		if attempt == 2 || (!errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.ECONNREFUSED)) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	// A kept-alive connection may still reach the old generation until it
	// has shut down; a client reconnecting after a reload reaches the new one.
	c.mu.Lock()
	clients := append([]*http.Client(nil), c.clients...)
	c.mu.Unlock()
	for _, cl := range clients {
		cl.CloseIdleConnections()
	}
	// The old servers stop accepting on the shared listener a moment after
	// /load returns (an Accept already waiting can still win one new
	// connection). Give them that moment; tests that must see the new config
	// on the very next request use WaitBody.
	time.Sleep(150 * time.Millisecond)
	return nil
}

// WaitBody fetches url on fresh connections until the body is want three
// times in a row (for up to 10 s) and reports whether it was: after a reload,
// proof that the new config is the one answering.
func (c *Caddy) WaitBody(url, want string) bool {
	streak := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && streak < 3; {
		cl := c.newClient()
		body := ""
		if resp, err := cl.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		cl.CloseIdleConnections()
		if body == want {
			streak++
			continue
		}
		streak = 0
		time.Sleep(20 * time.Millisecond)
	}
	return streak >= 3
}

// URL is the HTTPS URL of path on the site `localhost`.
func (c *Caddy) URL(path string) string {
	return "https://localhost:" + strconv.Itoa(c.HTTPSPort) + path
}

// HTTPURL is the plain-HTTP URL of path.
func (c *Caddy) HTTPURL(path string) string {
	return "http://localhost:" + strconv.Itoa(c.HTTPPort) + path
}

// NewClient returns a client like Client with its own cookie jar and no
// automatic redirects, for driving browser-like flows. It is safe to call
// from several goroutines.
func (c *Caddy) NewClient() *http.Client {
	client := c.newClient()
	c.mu.Lock()
	c.clients = append(c.clients, client)
	c.mu.Unlock()
	return client
}

// newClient is NewClient for a client the harness need not track (one that
// closes its own connections).
func (c *Caddy) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, "tcp4", "127.0.0.1:"+port)
		},
		TLSClientConfig:     &tls.Config{RootCAs: c.rootPool()},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
	}
	client := &http.Client{
		Transport: transport,
		Jar:       jar,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return client
}

// rootPool trusts this Caddy's internal CA, read lazily because Caddy creates
// it at start.
func (c *Caddy) rootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(c.DataDir, "pki", "authorities", "local", "root.crt"))
	if err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return pool
}

// waitAdmin waits for a child process's admin API.
func (c *Caddy) waitAdmin() {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + c.AdminAddr + "/config/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if c.exited != nil {
			select {
			case <-c.exited:
				c.t.Fatalf("Caddy process exited at start; log:\n%s", tail(c.Log(), 8000))
			default:
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("Caddy process did not come up; log:\n%s", tail(c.Log(), 8000))
}

// waitReady waits until the HTTPS listener has its certificate, when the
// config serves HTTPS, and rebuilds the client to trust the fresh CA.
func (c *Caddy) waitReady(caddyfile string) {
	if !strings.Contains(caddyfile, "https://localhost") {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp4",
			"127.0.0.1:"+strconv.Itoa(c.HTTPSPort), &tls.Config{RootCAs: c.rootPool(), ServerName: "localhost"})
		if err == nil {
			conn.Close()
			// Rebuild the client now that the CA exists, so it trusts it.
			c.clients = nil
			c.Client = c.NewClient()
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("HTTPS on port %d never became ready: %v", c.HTTPSPort, lastErr)
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
