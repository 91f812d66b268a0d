// Command social measures what "Continue with Google" adds to a login on our
// side, against a password login, through Caddy on PostgreSQL. Both are the
// whole interactive login of a relying party: authorize (prompt=login), the
// sign-in page, then either the password POST (argon2id) or the upstream leg
// (our redirect to the upstream, the callback that redeems the code with
// PKCE at the upstream's token endpoint and verifies its RS256 ID token),
// continue, the code and the token exchange. The upstream is
// internal/fakeupstream, which answers at once; the browser's visit to its
// authorization endpoint is not counted, so the figures are our side only
// (the callback's server-to-upstream calls included). A static `respond`
// on the same server is the baseline. The three are interleaved, one
// round each in turn, so machine noise falls on all of them alike.
//
// Run: go run ./bench/social [-n 300]
// DATABASE_URL picks the PostgreSQL server (default: the test server); the
// benchmark works in a schema of its own and drops it at the end.
package main

import (
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"github.com/intellistack/intellistack/internal/fakeupstream"
	_ "github.com/intellistack/intellistack/modules/oidc"
	_ "github.com/intellistack/intellistack/modules/store"
)

const (
	password = "Correct-Horse-42"
	secret   = "bench-client-secret-0123456789"
	redirect = "https://app.test/callback"
)

var (
	base      string
	callbacks []time.Duration // the callback request of each social login
)

func main() {
	n := flag.Int("n", 300, "rounds (one login of each kind per round)")
	flag.Parse()

	pgURL, drop := benchkit.FreshSchema(benchkit.PostgresURL(), "bench_social", nil)
	defer drop()
	google := fakeupstream.NewOpenID("bench-google", "bench-google-secret")
	defer google.Close()
	google.Set(fakeupstream.Identity{Subject: "g-1", Email: "social@example.com", EmailVerified: true, Name: "Social"})
	dir, _ := os.MkdirTemp("", "social-bench-")
	defer os.RemoveAll(dir)
	ca := filepath.Join(dir, "fake-ca.pem")
	benchkit.Must(os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: google.Certificate().Raw}), 0o600))

	port := benchkit.FreePort()
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	cf := benchkit.GlobalOptions(port, dir, pgURL) + fmt.Sprintf(`
http://127.0.0.1:%d {
	oidc_provider {
		# One client IP signs in hundreds of times: measure the sign-in,
		# not the brute-force limit.
		ip_limit off
		issuer %s
		client bench {
			redirect_uri %s
			secret %s
			skip_consent
		}
		upstream google {
			issuer %s
			client_id bench-google
			client_secret bench-google-secret
			trusted_ca %s
		}
	}
	respond /base "ok"
}
`, port, base, redirect, secret, google.URL, ca)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(cfg, true))
	defer caddy.Stop()

	b := newBrowser()
	fake := google.Client()
	fake.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.signUp("password@example.com")
	// The first social login creates the account (and fetches discovery and
	// the keys once); the measured ones are sign-ins.
	b.socialLogin(fake)
	b.passwordLogin("password@example.com")

	var baseline, pw, social []time.Duration
	callbacks = nil
	for i := 0; i < *n; i++ {
		t := time.Now()
		b.expect(b.get(base+"/base"), 200)
		baseline = append(baseline, time.Since(t))
		pw = append(pw, b.passwordLogin("password@example.com"))
		social = append(social, b.socialLogin(fake))
	}

	fmt.Printf("Login of a relying party, our side only, through Caddy (loopback HTTP/1.1) on PostgreSQL; %d interleaved rounds, one client, GOMAXPROCS=%d\n\n",
		*n, runtime.GOMAXPROCS(0))
	fmt.Printf("%-36s %10s %10s %12s %12s\n", "", "p50", "p99", "p50 vs pw", "p99 vs pw")
	p50, p99 := benchkit.Percentile(pw, 50), benchkit.Percentile(pw, 99)
	row := func(name string, d []time.Duration) {
		a, z := benchkit.Percentile(d, 50), benchkit.Percentile(d, 99)
		fmt.Printf("%-36s %10s %10s %12s %12s\n", name, ms(a), ms(z), ratio(a, p50), ratio(z, p99))
	}
	row("baseline (static respond)", baseline)
	row("password login (5 requests)", pw)
	row("Continue with Google (6 requests)", social)
	row("  of which the callback", callbacks)
	fmt.Printf("\nadded by the social round trip: p50 %s, p99 %s\n",
		signedMS(benchkit.Percentile(social, 50)-p50), signedMS(benchkit.Percentile(social, 99)-p99))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func signedMS(d time.Duration) string {
	return fmt.Sprintf("%+.2fms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2fx", float64(a)/float64(b)) }

type browser struct{ c *http.Client }

func newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	body     string
	location string
	took     time.Duration
}

func (b *browser) do(req *http.Request) page {
	start := time.Now()
	resp, err := b.c.Do(req)
	benchkit.Must(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	loc := resp.Header.Get("Location")
	if loc != "" {
		u, _ := req.URL.Parse(loc)
		loc = u.String()
	}
	return page{resp.StatusCode, string(body), loc, took}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, v url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) expect(p page, status int) page {
	if p.status != status {
		panic(fmt.Sprintf("status %d, want %d: %.300s", p.status, status, p.body))
	}
	return p
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	buttonRE = regexp.MustCompile(`id="upstream-google" href="([^"]+)"`)
)

func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func (b *browser) signUp(email string) {
	v := hidden(b.get(base + "/oauth2/sign-up").body)
	v.Set("email", email)
	v.Set("password", password)
	b.expect(b.post(base+"/oauth2/sign-up", v), 200)
}

// authorize starts a login that must sign in again (prompt=login) and
// returns the sign-in page and the time spent.
func (b *browser) authorize() (page, time.Duration) {
	q := url.Values{"client_id": {"bench"}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"s"}, "nonce": {"n"}, "prompt": {"login"}}
	p := b.expect(b.get(base+"/oauth2/authorize?"+q.Encode()), http.StatusFound)
	signIn := b.expect(b.get(p.location), 200)
	return signIn, p.took + signIn.took
}

// finish follows continue to the code and exchanges it.
func (b *browser) finish(p page) time.Duration {
	p = b.get(p.location)
	if !strings.HasPrefix(p.location, redirect) {
		panic("no code: " + p.location + " " + p.body)
	}
	took := p.took
	u, _ := url.Parse(p.location)
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"authorization_code"},
		"code": {u.Query().Get("code")}, "redirect_uri": {redirect}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bench", secret)
	tok := b.expect(b.do(req), 200)
	var out map[string]any
	benchkit.Must(json.Unmarshal([]byte(tok.body), &out))
	return took + tok.took
}

func (b *browser) passwordLogin(email string) time.Duration {
	signIn, took := b.authorize()
	form := hidden(signIn.body)
	form.Set("email", email)
	form.Set("password", password)
	p := b.expect(b.post(base+"/oauth2/sign-in", form), http.StatusSeeOther)
	return took + p.took + b.finish(p)
}

func (b *browser) socialLogin(fake *http.Client) time.Duration {
	signIn, took := b.authorize()
	m := buttonRE.FindStringSubmatch(signIn.body)
	if m == nil {
		panic("no Continue with Google button")
	}
	start := b.expect(b.get(html.UnescapeString(m[1])), http.StatusFound)
	// The upstream's authorization endpoint: the browser's time, not ours.
	resp, err := fake.Get(start.location)
	benchkit.Must(err)
	resp.Body.Close()
	cb := b.expect(b.get(resp.Header.Get("Location")), http.StatusFound)
	callbacks = append(callbacks, cb.took)
	return took + start.took + cb.took + b.finish(cb)
}
