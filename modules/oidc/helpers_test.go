package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

func TestMain(m *testing.M) { testutil.Main(m) }

const (
	testSecret    = "test-secret-0123456789abcdef"
	webSecret     = "web-client-secret-value-0123456789"
	testPassword  = "Correct-Horse-42"
	webRedirect   = "https://app.test/callback"
	spaRedirect   = "https://app.test/spa/callback"
	logoutLanding = "https://app.test/logged-out"
)

// providerCaddyfile is the site every integration test runs: a provider with
// a confidential client (web), a public one (spa) and a second confidential
// one (other), in front of a respond that proves other paths pass through.
func providerCaddyfile(database string, port int, extra string) string {
	return fmt.Sprintf(`{
	%s
	intellistack {
		database %s
		secret %s
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:%d
		client web {
			redirect_uri %s
			post_logout_redirect_uri %s
			secret {env.OIDC_TEST_WEB_SECRET}
			name "Web app"
			offline_access
		}
		client spa {
			redirect_uri %s
			public
			offline_access
		}
		client other {
			redirect_uri https://other.test/callback
			secret other-secret-0123456789
			skip_consent
			offline_access
		}
		client api {
			redirect_uri https://api.test/unused
			secret api-secret-0123456789
			introspect
		}
		%s
	}
	respond "passed through" 200
}
`, globalExtra, database, testSecret, port, webRedirect, logoutLanding, spaRedirect, extra)
}

// startProvider starts Caddy with the provider on database; the issuer
// names the HTTPS port, which exists only once Caddy runs, so the provider
// config is loaded right after a bootstrap config.
// globalExtra is put into the global options block (tests set it and
// reset it).
var globalExtra string

func startProvider(t *testing.T, database, extra string) (*testutil.Caddy, string) {
	t.Helper()
	os.Setenv("OIDC_TEST_WEB_SECRET", webSecret)
	c := testutil.StartCaddy(t, fmt.Sprintf("{\n\tintellistack {\n\t\tdatabase %s\n\t\tsecret %s\n\t}\n}\nhttps://localhost {\n\trespond boot\n}\n", database, testSecret))
	if err := c.Load(providerCaddyfile(database, c.HTTPSPort, extra)); err != nil {
		t.Fatalf("loading provider config: %v", err)
	}
	// The bootstrap server can keep accepting new connections for a moment
	// after the reload (its socket shares the port): wait until 20 fresh
	// connections in a row reach the provider.
	deadline := time.Now().Add(15 * time.Second)
	for ok := 0; ok < 20; {
		resp, err := c.NewClient().Get(c.URL("/.well-known/openid-configuration"))
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			ok++
			continue
		}
		ok = 0
		if time.Now().After(deadline) {
			t.Fatalf("the provider config never answered alone: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Client = c.NewClient() // no connection to the bootstrap server
	return c, c.URL("")
}

// openDB opens the database Caddy uses, for assertions on stored rows.
func openDB(t *testing.T, database string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, database, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// browser is a cookie-keeping user agent that never follows redirects by
// itself.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T, c *testutil.Caddy) *browser {
	return &browser{t: t, client: c.NewClient()}
}

type page struct {
	status   int
	header   http.Header
	body     string
	location string
	url      string
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: req.URL.String()}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("bad Location %q", loc)
		}
		p.location = u.String()
	}
	return p
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow follows redirects until one leaves for stop (returned unvisited) or
// a page is shown.
func (b *browser) follow(p *page, stop string) *page {
	b.t.Helper()
	for i := 0; i < 10 && p.location != ""; i++ {
		if strings.HasPrefix(p.location, stop) {
			return p
		}
		if p.status != http.StatusFound && p.status != http.StatusSeeOther {
			b.t.Fatalf("redirect with status %d", p.status)
		}
		p = b.get(p.location)
	}
	return p
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)" id="([^"]+)">`)
)

// form scrapes the form with the id from a page: its action and hidden
// fields.
func (p *page) form(t *testing.T, id string) (string, url.Values) {
	t.Helper()
	for _, m := range actionRE.FindAllStringSubmatchIndex(p.body, -1) {
		if p.body[m[4]:m[5]] != id {
			continue
		}
		rest := p.body[m[1]:]
		end := strings.Index(rest, "</form>")
		vals := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(rest[:end], -1) {
			vals.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		return html.UnescapeString(p.body[m[2]:m[3]]), vals
	}
	t.Fatalf("no form %q on page (status %d) %s:\n%s", id, p.status, p.url, p.body)
	return "", nil
}

// login walks the hosted pages from an authorization URL to the redirect to
// the client: sign-up (or sign-in) and consent when shown. It returns the
// final redirect URL.
func (b *browser) login(authURL, email, stop string, signUp bool) *url.URL {
	b.t.Helper()
	p := b.follow(b.get(authURL), stop)
	if strings.Contains(p.body, `id="sign-in"`) {
		if signUp {
			_, vals := p.form(b.t, "sign-in")
			p = b.get(strings.Split(p.url, "/oauth2/")[0] + "/oauth2/sign-up?request_id=" + url.QueryEscape(vals.Get("request_id")))
			action, vals := p.form(b.t, "sign-up")
			vals.Set("email", email)
			vals.Set("name", "Alice Example")
			vals.Set("password", testPassword)
			p = b.follow(b.post(action, vals), stop)
		} else {
			action, vals := p.form(b.t, "sign-in")
			vals.Set("email", email)
			vals.Set("password", testPassword)
			p = b.follow(b.post(action, vals), stop)
		}
	}
	if strings.Contains(p.body, `id="consent"`) {
		action, vals := p.form(b.t, "consent")
		vals.Set("decision", "allow")
		p = b.follow(b.post(action, vals), stop)
	}
	if p.location == "" || !strings.HasPrefix(p.location, stop) {
		b.t.Fatalf("login did not end at %s: status %d at %s\n%s", stop, p.status, p.url, p.body)
	}
	u, _ := url.Parse(p.location)
	return u
}

// postForm posts a form with optional Basic client credentials.
func postForm(t *testing.T, client *http.Client, u string, form url.Values, id, secret string) *page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return (&browser{t: t, client: client}).do(req)
}

type jwtParts struct {
	header, payload map[string]any
}

func decodeJWT(t *testing.T, tok string) jwtParts {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var j jwtParts
	for i, dst := range []*map[string]any{&j.header, &j.payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("bad JWT part %d", i)
		}
	}
	return j
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
