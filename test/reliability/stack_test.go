package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/testutil"
)

const secret = "reliability-secret-0123456789abcdef"

// nodeConfig is the dev Caddyfile's stack (README's production shape) with
// the fake model: issuer is the URL students see (the node itself, or the
// load balancer in front of two nodes), generation a value each reload
// changes so that every reload is a real config change.
type nodeConfig struct {
	Database   string
	Issuer     string
	ModelURL   string
	Quota      int
	Generation int
	// FirstTokenTimeout, when set, is the model's first_token_timeout
	// (default 20s): how long a slow model is waited for.
	FirstTokenTimeout string
	// Retriever, when set, is the tutor's retriever block (default: the
	// lexical retriever on examples/course).
	Retriever string
	// KeyRotation, when set, is the provider's key_rotation (a successor
	// key published half of it ahead).
	KeyRotation string
}

func (n nodeConfig) caddyfile() string {
	course, _ := filepath.Abs("../../examples/course")
	timeout := ""
	if n.FirstTokenTimeout != "" {
		timeout = "\n\t\t\t\t\t\tfirst_token_timeout " + n.FirstTokenTimeout
	}
	retriever := "retriever lexical {\n\t\t\t\t\t\tpath " + course + "\n\t\t\t\t\t}"
	if n.Retriever != "" {
		retriever = n.Retriever
	}
	rotation, bearerRefresh := "", ""
	if n.KeyRotation != "" {
		// A key is published half of key_rotation before it signs: the
		// bearers' key caches must refresh well within that (the provider's
		// rule for key_publish_ahead; bearer_jwt's default is 5 minutes).
		rotation = "\n\t\tkey_rotation " + n.KeyRotation
		bearerRefresh = "\n\t\t\t\trefresh_interval 2s\n\t\t\t\tmin_refresh_interval 1s"
	}
	return fmt.Sprintf(`{
	servers {
		timeouts {
			read_header 10s
			read_body 30s
			idle 2m
		}
	}
	intellistack {
		database %q
		secret %s
	}
}

https://localhost {
	intellistack_health /healthz
	header X-Config-Generation %d

	oidc_provider {
		issuer %s
		client web {
			redirect_uri %s/auth/callback
			public
			skip_consent
			offline_access
		}
		claims stage%s
		# A class signs in from one loopback address here; in a real
		# semester each student has an address of their own.
		ip_limit off
	}

	handle /api/v1/chatkit {
		request_body {
			max_size 1MB
		}
		route {
			bearer_jwt {
				issuer %s
				require_verified_email
				claim stage%s
			}
			@send chatkit_op threads.create threads.add_user_message threads.retry_after_item
			request_quota @send {
				key {http.auth.user.id}
				limit %d per 24h
				exempt_roles instructor admin
				store database
			}
			chatkit {
				responder tutor {
					model openai {
						base_url %s
						api_key sk-test
						model tutor-test%s
					}
					%s
				}
			}
		}
	}

	handle {
		respond "course site"
	}
}
`, n.Database, secret, n.Generation, n.Issuer, n.Issuer, rotation, n.Issuer, bearerRefresh, n.Quota, n.ModelURL, timeout, retriever)
}

// pgDatabase is a fresh PostgreSQL schema with a pool big enough for a class.
func pgDatabase(t *testing.T) string {
	u := testutil.PostgresURL(t)
	sep := "&"
	if !strings.Contains(u, "?") {
		sep = "?"
	}
	return u + sep + "pool_max_conns=20"
}

// pacedModel is the fake OpenAI server answering every request with n
// tokens at the scenario's pace; answer is the text the tutor must store.
func pacedModel(t *testing.T, n int) (f *fakeopenai.Server, answer string) {
	f = fakeopenai.New()
	t.Cleanup(f.Close)
	chunks := make([]string, n)
	for i := range chunks {
		chunks[i] = "tok" + strconv.Itoa(i) + " "
	}
	f.Answer(fakeopenai.Reply{Chunks: chunks, FirstDelay: firstTokenDelay, Delay: time.Second / tokensPerSecond})
	return f, strings.TrimSpace(strings.Join(chunks, ""))
}

// site is what students talk to: one node, or the load balancer.
type site struct {
	URL      string // https://localhost:<port>, the issuer
	rootCA   string // the site's internal CA root
	conf     oauth2.Config
	provider *oidc.Provider
}

func newSite(t *testing.T, c *testutil.Caddy) *site {
	s := &site{URL: c.URL(""), rootCA: filepath.Join(c.DataDir, "pki", "authorities", "local", "root.crt")}
	ctx := oidc.ClientContext(context.Background(), s.client(true, nil))
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery at %s: %v", s.URL, err)
	}
	s.provider = p
	s.conf = oauth2.Config{ClientID: "web", Endpoint: p.Endpoint(), RedirectURL: s.URL + "/auth/callback",
		Scopes: []string{oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess}}
	return s
}

// client is a browser of the site: HTTP/2 over TLS (h2) or HTTP/1.1 only,
// with its own connections and cookie jar, redirects not followed.
func (s *site) client(h2 bool, jar http.CookieJar) *http.Client {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(s.rootCA); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, "tcp4", "127.0.0.1:"+port)
		},
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2:   h2,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	var rt http.RoundTripper = tr
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		rt = resendOnIdleClose{tr}
	}
	return &http.Client{Transport: rt, Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// idleResends counts HTTP/1.1 requests re-sent by resendOnIdleClose.
var idleResends atomic.Int64

// resendOnIdleClose re-sends, at most twice, a request that went out on a
// reused idle HTTP/1.1 connection which the server closed before any
// response byte: that is what browsers do (Chromium's
// HttpNetworkTransaction re-sends such a request, POST included, up to
// kMaxRetryAttempts = 2 times, each on whatever connection its pool gives
// next), and what a server closing idle connections during a reload
// counts on. One re-send is not enough: during a reload the pool may hold
// several connections the old server is closing at that moment, and the
// re-send can draw the next of them. Go's Transport re-sends only
// idempotent requests; ChatKit and the token endpoint are POST. HTTP/2
// clients need no such help: a request refused by GOAWAY is retried by the
// transport itself.
type resendOnIdleClose struct{ next http.RoundTripper }

// errDroppedUnread marks a request that the server closed a fresh
// HTTP/1.1 connection on, without a response byte. Go's http.Server does
// that to a request it reads after Shutdown began (conn.serve returns when
// shuttingDown() right after readRequest): during a reload, a connection
// the old server accepted just before its shutdown loses its first
// request, unhandled. Browsers do not re-send on a fresh connection
// (Chromium's ShouldResendRequest wants a reused one), so such a request
// fails for the user too; over HTTP/2, what browsers use with TLS, the
// old server's GOAWAY has it retried instead. Scenarios report these
// apart and bound them (dayReport's allowDropped).
var errDroppedUnread = errors.New("the server closed a fresh HTTP/1.1 connection without answering")

// maxIdleResends is Chromium's kMaxRetryAttempts.
const maxIdleResends = 2

func (r resendOnIdleClose) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var reused, gotByte bool
		trace := &httptrace.ClientTrace{
			GotConn:              func(i httptrace.GotConnInfo) { reused = i.Reused },
			GotFirstResponseByte: func() { gotByte = true },
		}
		try := req.Clone(httptrace.WithClientTrace(req.Context(), trace))
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			try.Body = body
		}
		resp, err := r.next.RoundTrip(try)
		if err == nil {
			return resp, nil
		}
		if !reused && !gotByte && req.Context().Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return resp, fmt.Errorf("%w: %w (HTTP/1.1 attempt %d)", errDroppedUnread, err, attempt+1)
		}
		if !reused || gotByte || attempt == maxIdleResends || req.Context().Err() != nil || (req.Body != nil && req.GetBody == nil) {
			// Say which case it was, for the scenario's failure list.
			return resp, fmt.Errorf("%w (HTTP/1.1 attempt %d, reused connection %t, response begun %t)", err, attempt+1, reused, gotByte)
		}
		idleResends.Add(1)
	}
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)" id="([^"]+)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// signIn plays the browser through the hosted sign-in page (code flow with
// PKCE) and exchanges the code: what the widget does once per student.
func (s *site) signIn(browser *http.Client, email, password string) (*oauth2.Token, error) {
	verifier := oauth2.GenerateVerifier()
	authURL := s.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))
	resp, err := browser.Get(authURL)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 10; i++ {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			page := string(b)
			m := formRE.FindStringSubmatch(page)
			if m == nil || m[2] != "sign-in" {
				return nil, fmt.Errorf("no sign-in form (status %d): %.300s", resp.StatusCode, page)
			}
			rest := page[strings.Index(page, m[0]):]
			rest = rest[:strings.Index(rest, "</form>")]
			vals := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(rest, -1) {
				vals.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
			}
			vals.Set("email", email)
			vals.Set("password", password)
			action, _ := resp.Request.URL.Parse(html.UnescapeString(m[1]))
			if resp, err = browser.PostForm(action.String(), vals); err != nil {
				return nil, err
			}
			continue
		}
		next, _ := resp.Request.URL.Parse(loc)
		if strings.HasPrefix(next.String(), s.URL+"/auth/callback") {
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, browser)
			return s.conf.Exchange(ctx, next.Query().Get("code"), oauth2.VerifierOption(verifier))
		}
		if resp, err = browser.Get(next.String()); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("sign-in of %s did not reach the client", email)
}

// refresh rotates a refresh token at the token endpoint.
func (s *site) refresh(hc *http.Client, refreshToken string) (*oauth2.Token, error) {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	return s.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// createAdmin makes the class's admin with the CLI, as an operator does.
func createAdmin(t *testing.T, database, email, password string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INTELLISTACK_TESTUTIL_COMMAND="+strings.Join([]string{"user", "create",
		"--email", email, "--role", "admin", "--verified", "--password-stdin", "--database", database}, "\x1f"))
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("intellistack user create: %v\n%s", err, out)
	}
}

const studentPassword = "Correct-Horse-42!"

// enrol creates n verified students with the admin API (an admin signed in
// through the pages) and signs each in once through the hosted pages: the
// costly part of a day's start (argon2id twice per student). Students come
// back signed in, with an access and a refresh token.
func enrol(t *testing.T, s *site, database string, n int, h2 func(i int) bool) []*student {
	t.Helper()
	createAdmin(t, database, "admin@example.com", "Admin-Password-42!")
	adminBrowser := s.client(true, nil)
	adminTok, err := s.signIn(adminBrowser, "admin@example.com", "Admin-Password-42!")
	if err != nil {
		t.Fatalf("admin sign-in: %v", err)
	}
	students := make([]*student, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	t0 := time.Now()
	for i := range students {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			email := fmt.Sprintf("student%03d@example.com", i)
			body, _ := json.Marshal(map[string]any{"email": email, "password": studentPassword, "name": fmt.Sprintf("Student %d", i),
				"role": "student", "emailVerified": true})
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/admin/users", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+adminTok.AccessToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := adminBrowser.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				errs <- fmt.Errorf("creating %s: %d %s", email, resp.StatusCode, b)
				return
			}
			st := &student{n: i, email: email, site: s, h2: h2(i)}
			st.browser = s.client(st.h2, nil)
			tok, err := s.signIn(st.browser, email, studentPassword)
			if err != nil {
				errs <- fmt.Errorf("sign-in of %s: %v", email, err)
				return
			}
			st.access, st.refreshToken = tok.AccessToken, tok.RefreshToken
			st.api = s.client(st.h2, nil)
			students[i] = st
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("enrolled %d students (admin API + one hosted-page sign-in each) in %s", n, time.Since(t0).Round(time.Millisecond))
	return students
}
