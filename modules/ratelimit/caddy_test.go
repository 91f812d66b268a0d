package ratelimit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

const testSecret = "test-secret-0123456789abcdef"

// chatSite is a ChatKit-like route: identity first (test_identity stands in
// for bearer_jwt), then the quota, then the responder.
func chatSite(database, storeKind, body string) string {
	return fmt.Sprintf(`{
	intellistack {
		database %q
		secret %s
	}
}

https://localhost {
	route /chat {
		test_identity
		request_quota {
			key {http.auth.user.id}
			limit 20 per 24h
			exempt_roles instructor admin
			store %s
		}
		header X-Quota "{http.quota.remaining} {http.quota.reset} {http.quota.limit}"
		respond %q
	}
	respond /other "other"
}
`, database, testSecret, storeKind, body)
}

// forEachBackend runs body with the memory store and with the database
// store on SQLite and on PostgreSQL.
func forEachBackend(t *testing.T, body func(t *testing.T, database, storeKind string)) {
	t.Run("memory", func(t *testing.T) { body(t, testutil.SQLitePath(t), "memory") })
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) { body(t, database, "database") })
}

type quotaError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Limit      int    `json:"limit"`
		Window     string `json:"window"`
		RetryAfter *int64 `json:"retry_after"`
		RetryAt    string `json:"retry_at"`
	} `json:"error"`
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) json(t *testing.T) quotaError {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, body %q", ct, r.body)
	}
	var e quotaError
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return e
}

func send(t *testing.T, client *http.Client, url, user, role string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

// The 21st message in 24 h is refused with 429, the RateLimit headers and
// the JSON a chat widget shows; instructors and admins are never limited;
// the first message after the window frees up is admitted.
func TestQuotaThroughCaddy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database, storeKind string) {
		clock := newFakeClock()
		setClock(t, clock.Now)
		c := testutil.StartCaddy(t, chatSite(database, storeKind, "reply"))
		url := c.URL("/chat")
		start := clock.Now()

		for i := 1; i <= 20; i++ {
			r := send(t, c.Client, url, "student-1", "student")
			if r.status != 200 || r.body != "reply" {
				t.Fatalf("message %d: %d %q", i, r.status, r.body)
			}
			wantRemaining := strconv.Itoa(20 - i)
			if r.header.Get("RateLimit-Limit") != "20" || r.header.Get("RateLimit-Remaining") != wantRemaining ||
				r.header.Get("RateLimit-Policy") != "20;w=86400" {
				t.Fatalf("message %d headers: %v", i, r.header)
			}
			// Reset: the first message of the window leaves it 24 h after it
			// was sent.
			wantReset := strconv.FormatInt(int64((24*time.Hour-clock.Now().Sub(start))/time.Second), 10)
			if got := r.header.Get("RateLimit-Reset"); got != wantReset {
				t.Fatalf("message %d RateLimit-Reset = %s, want %s", i, got, wantReset)
			}
			if got, want := r.header.Get("X-Quota"), wantRemaining+" "+wantReset+" 20"; got != want {
				t.Fatalf("placeholders = %q, want %q", got, want)
			}
			clock.Advance(30 * time.Minute)
		}

		r := send(t, c.Client, url, "student-1", "student")
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("21st message: %d %q", r.status, r.body)
		}
		// 20 messages 30 min apart: it is now 10 h after the first one.
		retry := int64(14 * 3600)
		e := r.json(t)
		if e.Error.Code != "rate_limited" || e.Error.Limit != 20 || e.Error.Window != "24h" ||
			e.Error.RetryAfter == nil || *e.Error.RetryAfter != retry ||
			e.Error.RetryAt != start.Add(24*time.Hour).UTC().Format(time.RFC3339) || !strings.Contains(e.Error.Message, "20 requests per 24h") {
			t.Fatalf("429 body: %s", r.body)
		}
		if r.header.Get("Retry-After") != strconv.FormatInt(retry, 10) || r.header.Get("RateLimit-Remaining") != "0" ||
			r.header.Get("RateLimit-Reset") != strconv.FormatInt(retry, 10) {
			t.Fatalf("429 headers: %v", r.header)
		}

		// Exempt roles are never limited and carry no quota headers; a
		// role list counts when one of its roles is exempt.
		for _, role := range []string{"instructor", "admin", "student,admin"} {
			for i := 0; i < 25; i++ {
				r := send(t, c.Client, url, "staff-"+role, role)
				if r.status != 200 || r.header.Get("RateLimit-Limit") != "" {
					t.Fatalf("%s request %d: %d %v", role, i, r.status, r.header)
				}
			}
		}
		// Another student has a quota of their own.
		if r := send(t, c.Client, url, "student-2", "student"); r.status != 200 || r.header.Get("RateLimit-Remaining") != "19" {
			t.Fatalf("student-2: %d %v", r.status, r.header)
		}

		// The moment the first message leaves the window, one frees up.
		clock.ns.Store(start.Add(24*time.Hour - time.Millisecond).UnixNano())
		if r := send(t, c.Client, url, "student-1", "student"); r.status != 429 {
			t.Fatalf("just before the window frees up: %d", r.status)
		}
		clock.ns.Store(start.Add(24 * time.Hour).UnixNano())
		if r := send(t, c.Client, url, "student-1", "student"); r.status != 200 || r.header.Get("RateLimit-Remaining") != "0" {
			t.Fatalf("first after the window: %d %v", r.status, r.header)
		}
		if r := send(t, c.Client, url, "student-1", "student"); r.status != 429 {
			t.Fatalf("second after the window: %d", r.status)
		}
	})
}

// A key that does not resolve is refused with a clear error instead of
// putting every anonymous request in one bucket.
func TestUnresolvedKeyRefused(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	route {
		test_identity
		request_quota {
			key {http.auth.user.id}/{http.request.header.X-Course}
			limit 1 per 1h
			store memory
		}
		respond "ok"
	}
}`)
	for _, tc := range []struct{ user, course string }{{"", ""}, {"u1", ""}, {"", "physics"}} {
		req, _ := http.NewRequest(http.MethodGet, c.URL("/"), nil)
		if tc.user != "" {
			req.Header.Set("X-Test-User", tc.user)
		}
		if tc.course != "" {
			req.Header.Set("X-Course", tc.course)
		}
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := result{resp.StatusCode, resp.Header, string(b)}
		if r.status != http.StatusBadRequest || r.json(t).Error.Code != "quota_key_missing" {
			t.Fatalf("%+v: %d %s", tc, r.status, r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, c.URL("/"), nil)
	req.Header.Set("X-Test-User", "u1")
	req.Header.Set("X-Course", "physics")
	if resp, err := c.Client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("complete key: %v %v", resp, err)
	}
}

// A config reload keeps the counters (memory: the usage pool; database: the
// rows), and a reload that also changes the limit applies the new limit to
// the old events.
func TestCountersSurviveReload(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database, storeKind string) {
		c := testutil.StartCaddy(t, chatSite(database, storeKind, "generation 1"))
		url := c.URL("/chat")
		for i := 0; i < 20; i++ {
			if r := send(t, c.Client, url, "s", ""); r.status != 200 {
				t.Fatalf("message %d: %d", i, r.status)
			}
		}
		if err := c.Load(chatSite(database, storeKind, "generation 2")); err != nil {
			t.Fatal(err)
		}
		if r := send(t, c.Client, c.URL("/other"), "", ""); r.body != "other" {
			t.Fatalf("after reload: %q", r.body)
		}
		if r := send(t, c.Client, url, "s", ""); r.status != 429 {
			t.Fatalf("after reload the quota restarted: %d %q", r.status, r.body)
		}
		raised := strings.Replace(chatSite(database, storeKind, "generation 3"), "limit 20 per 24h", "limit 22 per 24h", 1)
		if err := c.Load(raised); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{200, 200, 429} {
			if r := send(t, c.Client, url, "s", ""); r.status != want || (want == 200 && r.body != "generation 3") {
				t.Fatalf("after raising the limit, request %d: %d %q", i, r.status, r.body)
			}
		}
	})
}

// fire sends n concurrent requests for one user and counts the statuses.
func fire(t *testing.T, n int, targets []*testutil.Caddy, path string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(c *testutil.Caddy) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, c.URL(path), nil)
			req.Header.Set("X-Test-User", "student")
			resp, err := c.Client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		}(targets[i%len(targets)])
	}
	close(start)
	wg.Wait()
	return counts
}

// 200 concurrent requests against a limit of 20 admit exactly 20.
func TestConcurrentRequestsThroughCaddy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database, storeKind string) {
		c := testutil.StartCaddy(t, chatSite(database, storeKind, "reply"))
		counts := fire(t, 200, []*testutil.Caddy{c}, "/chat")
		if counts[200] != 20 || counts[429] != 180 {
			t.Fatalf("statuses %v, want 20×200 and 180×429", counts)
		}
	})
}

// Two Caddy processes on one PostgreSQL database: 200 concurrent requests,
// half to each, admit exactly 20.
func TestTwoNodesShareTheQuota(t *testing.T) {
	cf := chatSite(testutil.PostgresURL(t), "database", "reply")
	nodes := testutil.StartCaddyProcesses(t, cf, cf)
	// Warm up each node's connections (and prove both serve) with another key.
	for _, n := range nodes {
		if r := send(t, n.Client, n.URL("/chat"), "warm-up", ""); r.status != 200 {
			t.Fatalf("warm-up: %d %q", r.status, r.body)
		}
	}
	counts := fire(t, 200, nodes, "/chat")
	if counts[200] != 20 || counts[429] != 180 {
		t.Fatalf("statuses %v, want 20×200 and 180×429 across two nodes", counts)
	}
}

// Two handlers that would derive the same zone are refused at load; named
// zones keep them apart, and a shared name shares on purpose.
func TestZonesInConfig(t *testing.T) {
	site := func(zoneA, zoneB string) string {
		return fmt.Sprintf(`https://localhost {
	route /a {
		test_identity
		request_quota {
			key {http.auth.user.id}
			limit 1 per 1h
			store memory
			%s
		}
		respond "a"
	}
	route /b {
		test_identity
		request_quota {
			key {http.auth.user.id}
			limit 5 per 1h
			store memory
			%s
		}
		respond "b"
	}
}`, zoneA, zoneB)
	}
	err := testutil.TryStartCaddy(t, site("", ""))
	if err == nil || !strings.Contains(err.Error(), "zone") {
		t.Fatalf("accidental sharing accepted: %v", err)
	}

	c := testutil.StartCaddy(t, site("zone a", "zone b"))
	if send(t, c.Client, c.URL("/a"), "u", "").status != 200 || send(t, c.Client, c.URL("/a"), "u", "").status != 429 {
		t.Fatal("zone a")
	}
	if r := send(t, c.Client, c.URL("/b"), "u", ""); r.status != 200 || r.header.Get("RateLimit-Remaining") != "4" {
		t.Fatalf("zone b shares zone a's counters: %d %v", r.status, r.header)
	}
	if err := c.Load(site("zone shared", "zone shared")); err != nil {
		t.Fatal(err)
	}
	send(t, c.Client, c.URL("/b"), "v", "")
	if r := send(t, c.Client, c.URL("/a"), "v", ""); r.status != 429 {
		t.Fatalf("a shared zone does not share: %d", r.status)
	}
}

// Requests the exempt matchers match are never limited.
func TestExemptMatcher(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	route {
		test_identity
		request_quota {
			key {http.auth.user.id}
			limit 1 per 1h
			store memory
			exempt {
				header X-Internal yes
			}
		}
		respond "ok"
	}
}`)
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodGet, c.URL("/"), nil)
		req.Header.Set("X-Test-User", "u")
		req.Header.Set("X-Internal", "yes")
		resp, err := c.Client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("exempt request %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	if send(t, c.Client, c.URL("/"), "u", "").status != 200 || send(t, c.Client, c.URL("/"), "u", "").status != 429 {
		t.Fatal("exemption leaked into the count")
	}
}

// A site on two addresses is one quota: Caddy copies its routes into a server
// per listener, and both copies count together.
func TestSiteOnTwoListenersSharesOneCount(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost, http://localhost {
	route {
		test_identity
		request_quota {
			key {http.auth.user.id}
			limit 2 per 1h
			store memory
		}
		respond "ok"
	}
}`)
	if r := send(t, c.Client, c.URL("/"), "u", ""); r.status != 200 || r.header.Get("RateLimit-Remaining") != "1" {
		t.Fatalf("https: %d %v", r.status, r.header)
	}
	if r := send(t, c.Client, c.HTTPURL("/"), "u", ""); r.status != 200 || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("http: %d %v", r.status, r.header)
	}
	if r := send(t, c.Client, c.URL("/"), "u", ""); r.status != 429 {
		t.Fatalf("third: %d", r.status)
	}
}
