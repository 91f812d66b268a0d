// Command oidc measures the OpenID provider on PostgreSQL through Caddy:
// throughput and latency of password sign-in (argon2id), a whole interactive
// login (authorize, sign-in page and POST, code, token exchange), refresh-token
// rotation (two RS256 signatures and a transaction) and userinfo (one RS256
// verification and two reads), each next to a static `respond` on the same
// server as the baseline, with a fixed number of concurrent clients.
//
// Run: go run ./bench/oidc [-c 4] [-d 5s]
// DATABASE_URL picks the PostgreSQL server (default: the test server); the
// benchmark works in a schema of its own and drops it at the end.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/jackc/pgx/v5/stdlib"

	_ "github.com/intellistack/intellistack/modules/oidc"
	_ "github.com/intellistack/intellistack/modules/store"
)

const (
	password = "Correct-Horse-42"
	secret   = "bench-client-secret-0123456789"
	redirect = "https://app.test/callback"
)

var base string

func main() {
	conc := flag.Int("c", 4, "concurrent clients")
	dur := flag.Duration("d", 5*time.Second, "measuring time per operation")
	flag.Parse()

	dbBase := benchkit.PostgresURL()
	pgURL, drop := benchkit.FreshSchema(dbBase, "bench_oidc", nil)
	defer drop()
	port := benchkit.FreePort()
	dir, _ := os.MkdirTemp("", "oidc-bench-")
	defer os.RemoveAll(dir)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	cf := benchkit.GlobalOptions(port, dir, pgURL) + fmt.Sprintf(`
http://127.0.0.1:%d {
	oidc_provider {
		# One client IP signs in thousands of times: measure the sign-in
		# itself, not the brute-force limit (its cost is one database round
		# trip, measured in bench/ratelimit).
		ip_limit off
		issuer %s
		client bench {
			redirect_uri %s
			secret %s
			skip_consent
			offline_access
		}
	}
	respond /base "ok"
}
`, port, base, redirect, secret)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(cfg, true))
	defer caddy.Stop()

	// One account and one signed-in browser per client.
	browsers := make([]*browser, *conc)
	for i := range browsers {
		browsers[i] = newBrowser()
		browsers[i].signUp(fmt.Sprintf("user%d@example.com", i))
	}

	fmt.Printf("OpenID provider on PostgreSQL through Caddy (loopback HTTP/1.1), %d concurrent clients, %s per operation, GOMAXPROCS=%d\n\n",
		*conc, *dur, runtime.GOMAXPROCS(0))
	fmt.Printf("%-26s %9s %10s %10s %10s %10s\n", "operation", "ops", "ops/s", "p50", "p95", "p99")

	run("baseline (static respond)", *conc, *dur, func(i int) func() {
		b := browsers[i]
		return func() { b.expect(b.get(base+"/base"), 200) }
	})

	run("sign-in (argon2id)", *conc, *dur, func(i int) func() {
		b := browsers[i]
		email := fmt.Sprintf("user%d@example.com", i)
		return func() { b.signIn(email) }
	})

	run("login flow (5 requests)", *conc, *dur, func(i int) func() {
		b := browsers[i]
		email := fmt.Sprintf("user%d@example.com", i)
		return func() { b.loginFlow(email) }
	})

	// Each client gets a refresh token through a full code flow, then
	// rotates it again and again.
	tokens := make([]map[string]any, *conc)
	for i, b := range browsers {
		tokens[i] = b.codeFlow()
	}
	run("token refresh (rotation)", *conc, *dur, func(i int) func() {
		b := browsers[i]
		return func() {
			next := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens[i]["refresh_token"].(string)}})
			tokens[i] = next
		}
	})

	run("userinfo", *conc, *dur, func(i int) func() {
		b := browsers[i]
		at := tokens[i]["access_token"].(string)
		return func() {
			req, _ := http.NewRequest(http.MethodGet, base+"/oauth2/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			b.expect(b.do(req), 200)
		}
	})
}

type result struct {
	ops int
	lat []time.Duration
	per time.Duration
}

// run calls op from conc goroutines for d after a short warm-up and prints
// throughput and latency percentiles.
func run(name string, conc int, d time.Duration, mk func(i int) func()) result {
	ops := make([]func(), conc)
	for i := range ops {
		ops[i] = mk(i)
		ops[i]() // warm-up
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func(op func()) {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				op()
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}(ops[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p int) time.Duration { return all[(len(all)-1)*p/100] }
	fmt.Printf("%-26s %9d %10.1f %10s %10s %10s\n", name, len(all), float64(len(all))/elapsed.Seconds(), ms(pct(50)), ms(pct(95)), ms(pct(99)))
	return result{ops: len(all), lat: all}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

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
}

func (b *browser) do(req *http.Request) page {
	resp, err := b.c.Do(req)
	benchkit.Must(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc != "" {
		u, _ := req.URL.Parse(loc)
		loc = u.String()
	}
	return page{resp.StatusCode, string(body), loc}
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

func (b *browser) expect(p page, status int) {
	if p.status != status {
		panic(fmt.Sprintf("status %d, want %d: %.300s", p.status, status, p.body))
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

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

// signIn posts the sign-in form (its CSRF token fetched once per browser).
var signInForms sync.Map

func (b *browser) signIn(email string) {
	v, ok := signInForms.Load(b)
	if !ok {
		v = hidden(b.get(base + "/oauth2/sign-in").body)
		signInForms.Store(b, v)
	}
	form := url.Values{}
	for k, x := range v.(url.Values) {
		form[k] = x
	}
	form.Set("email", email)
	form.Set("password", password)
	b.expect(b.post(base+"/oauth2/sign-in", form), 200)
}

func (b *browser) codeFlow() map[string]any {
	q := url.Values{"client_id": {"bench"}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"s"}, "nonce": {"n"}}
	p := b.get(base + "/oauth2/authorize?" + q.Encode())
	if !strings.HasPrefix(p.location, redirect) {
		panic("no code: " + p.location)
	}
	u, _ := url.Parse(p.location)
	return b.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect}})
}

// loginFlow is a whole interactive login: authorize (prompt=login) → the
// sign-in page → its POST → continue → code → token exchange.
func (b *browser) loginFlow(email string) {
	q := url.Values{"client_id": {"bench"}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"s"}, "nonce": {"n"}, "prompt": {"login"}}
	p := b.get(base + "/oauth2/authorize?" + q.Encode())
	b.expect(p, http.StatusFound)
	page := b.get(p.location)
	form := hidden(page.body)
	form.Set("email", email)
	form.Set("password", password)
	p = b.post(base+"/oauth2/sign-in", form)
	b.expect(p, http.StatusSeeOther)
	p = b.get(p.location)
	if !strings.HasPrefix(p.location, redirect) {
		panic("no code: " + p.location)
	}
	u, _ := url.Parse(p.location)
	b.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect}})
}

func (b *browser) token(v url.Values) map[string]any {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bench", secret)
	p := b.do(req)
	b.expect(p, 200)
	var out map[string]any
	benchkit.Must(json.Unmarshal([]byte(p.body), &out))
	return out
}
