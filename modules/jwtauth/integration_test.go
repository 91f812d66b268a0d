package jwtauth

import (
	"encoding/json"
	"fmt"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

const testIssuer = "https://issuer.test"

type reply struct {
	status int
	body   string
	header http.Header
}

func call(t *testing.T, c *testutil.Caddy, path, token string, headers ...string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL(path), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

// refusal decodes a JSON refusal and checks its envelope.
func (r reply) refusal(t *testing.T) bearer.Refusal {
	t.Helper()
	var body struct{ Error bearer.Refusal }
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("refusal body %q (%s): %v", r.body, r.header.Get("Content-Type"), err)
	}
	if body.Error.Code == "" || body.Error.Reason == "" || body.Error.Description == "" {
		t.Fatalf("incomplete refusal %q", r.body)
	}
	return body.Error
}

// echoUpstream answers with the identity headers it received.
func echoUpstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := map[string]string{}
		for k, v := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-user") {
				got[k] = strings.Join(v, "|")
			}
		}
		_ = json.NewEncoder(w).Encode(got)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCaddyRefusalsPlaceholdersAndDiscovery(t *testing.T) {
	a, b, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	handle /plain {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[1]s/jwks
			audience api
			claim stage
		}
		respond "id={http.auth.user.id} email={http.auth.user.email} role={http.auth.user.role} verified={http.auth.user.email_verified} scope={http.auth.user.scope} client={http.auth.user.client_id} stage={http.auth.user.stage}"
	}
	handle /admin {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[1]s/jwks
			require_role admin instructor
		}
		respond "admin"
	}
	handle /verified {
		bearer_jwt {
			jwks_url %[1]s/jwks
			require_verified_email
		}
		respond "verified"
	}
	handle /discovered {
		bearer_jwt {
			issuer %[1]s
		}
		respond "discovered {http.auth.user.id}"
	}
	handle /anytyp {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[1]s/jwks
			audience api
			allow_any_typ
		}
		respond "anytyp {http.auth.user.id}"
	}
}
`, keys.URL, testIssuer))
	if n := keys.Hits.Load(); n != 0 {
		t.Fatalf("keys fetched %d times before any request: Provision must not do network I/O", n)
	}

	now := time.Now()
	valid := func(mut func(map[string]any)) map[string]any {
		cl := jwttest.Claims(now, testIssuer, "api", "user-1")
		cl["stage"] = 4
		if mut != nil {
			mut(cl)
		}
		return cl
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

	r := call(t, c, "/plain", jwttest.SignRS256(t, a, valid(nil)))
	want := "id=user-1 email=user-1@example.com role=student verified=true scope=openid profile client=web stage=4"
	if r.status != 200 || r.body != want {
		t.Fatalf("valid token: %d %q", r.status, r.body)
	}

	// A signature from another token: valid base64, wrong bytes.
	badSig := jwttest.SwapSignature(jwttest.SignRS256(t, a, valid(nil)), jwttest.SignRS256(t, a, valid(set("sub", "user-2"))))
	cases := []struct {
		name, path, token, reason string
		status                    int
	}{
		{"missing", "/plain", "", "missing", 401},
		{"malformed", "/plain", "not-a-jwt", "malformed", 401},
		{"malformed base64", "/plain", "e30.!!!.e30", "malformed", 401},
		{"expired", "/plain", jwttest.SignRS256(t, a, valid(set("exp", now.Add(-time.Hour).Unix()))), "expired", 401},
		{"nbf in future", "/plain", jwttest.SignRS256(t, a, valid(set("nbf", now.Add(time.Hour).Unix()))), "not_yet_valid", 401},
		{"wrong issuer", "/plain", jwttest.SignRS256(t, a, valid(set("iss", "https://evil.test"))), "wrong_issuer", 401},
		{"wrong audience", "/plain", jwttest.SignRS256(t, a, valid(set("aud", "other-api"))), "wrong_audience", 401},
		{"bad signature", "/plain", badSig, "bad_signature", 401},
		{"signed by a stranger", "/plain", jwttest.SignRS256(t, &jwttest.Key{Kid: a.Kid, Priv: b.Priv}, valid(nil)), "bad_signature", 401},
		{"alg none", "/plain", jwttest.Unsigned(valid(nil)), "algorithm_not_allowed", 401},
		{"HS256 keyed with the public key", "/plain", jwttest.HS256WithPublicKey(a, valid(nil)), "algorithm_not_allowed", 401},
		{"typ JWT (an ID token's)", "/plain", jwttest.SignRS256Typ(t, a, "JWT", valid(nil)), "wrong_token_type", 401},
		{"no typ", "/plain", jwttest.SignRS256Typ(t, a, "", valid(nil)), "wrong_token_type", 401},
		{"allow_any_typ still checks aud", "/anytyp", jwttest.SignRS256Typ(t, a, "JWT", valid(set("aud", "web"))), "wrong_audience", 401},
		{"role missing", "/admin", jwttest.SignRS256(t, a, valid(nil)), "role_required", 403},
		{"email not verified", "/verified", jwttest.SignRS256(t, a, valid(set("email_verified", false))), "email_not_verified", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, c, tc.path, tc.token)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.body)
			}
			ref := r.refusal(t)
			if ref.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", ref.Reason, tc.reason)
			}
			code := "invalid_token"
			if tc.status == 403 {
				code = "insufficient_scope"
			}
			wantChallenge := `Bearer error="` + code + `", error_description="` + ref.Description + `"`
			if got := r.header.Get("WWW-Authenticate"); got != wantChallenge || ref.Code != code {
				t.Fatalf("WWW-Authenticate %q, code %q", got, ref.Code)
			}
		})
	}

	for _, role := range []any{"student,instructor", "student instructor", []string{"student", "instructor"}} {
		if r := call(t, c, "/admin", jwttest.SignRS256(t, a, valid(set("role", role)))); r.status != 200 {
			t.Fatalf("role claim %#v with instructor: %d %s", role, r.status, r.body)
		}
	}
	if r := call(t, c, "/plain", jwttest.SignRS256(t, a, valid(set("role", []string{"student", "instructor"})))); !strings.Contains(r.body, "role=student,instructor ") {
		t.Fatalf("role array placeholder: %d %q", r.status, r.body)
	}
	for _, typ := range []string{"JWT", "", "application/at+jwt"} {
		if r := call(t, c, "/anytyp", jwttest.SignRS256Typ(t, a, typ, valid(nil))); r.status != 200 || r.body != "anytyp user-1" {
			t.Fatalf("allow_any_typ with typ %q: %d %q", typ, r.status, r.body)
		}
	}
	if r := call(t, c, "/verified", jwttest.SignRS256(t, a, valid(set("iss", "https://anyone.test")))); r.status != 200 {
		t.Fatalf("jwks_url without issuer must not check iss: %d %s", r.status, r.body)
	}
	// issuer alone: jwks_uri from the issuer's discovery document.
	if r := call(t, c, "/discovered", jwttest.SignRS256(t, a, jwttest.Claims(now, keys.URL, "x", "disc-user"))); r.status != 200 || r.body != "discovered disc-user" {
		t.Fatalf("discovery: %d %q", r.status, r.body)
	}
}

func TestCaddyHeaderSpoofing(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	up := echoUpstream(t)
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	handle /up/* {
		bearer_jwt {
			jwks_url %[1]s/jwks
			claim stage
			header_up {
				stage X-User-Stage
			}
		}
		reverse_proxy %[2]s
	}
	handle /quiet/* {
		bearer_jwt {
			jwks_url %[1]s/jwks
		}
		reverse_proxy %[2]s
	}
}
`, keys.URL, strings.TrimPrefix(up.URL, "http://")))

	cl := jwttest.Claims(time.Now(), testIssuer, "api", "real-user")
	cl["role"] = "student"
	cl["stage"] = "2"
	token := jwttest.SignRS256(t, a, cl)
	spoof := []string{"X-User-Id", "admin-id", "X-User-Role", "admin", "X-User-Email", "boss@example.com",
		"X-User-Email-Verified", "true", "X-User-Stage", "9", "x-user-id", "again"}

	r := call(t, c, "/up/x", token, spoof...)
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
		t.Fatalf("header_up: %d %q", r.status, r.body)
	}
	want := map[string]string{"X-User-Id": "real-user", "X-User-Role": "student", "X-User-Email": "real-user@example.com",
		"X-User-Email-Verified": "true", "X-User-Stage": "2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("upstream saw %v, want %v", got, want)
	}

	// Without header_up the default identity headers are still removed.
	// (X-User-Stage is only an identity header where it is configured.)
	r = call(t, c, "/quiet/x", token, spoof[:8]...)
	if r.status != 200 || strings.TrimSpace(r.body) != "{}" {
		t.Fatalf("without header_up the upstream saw %d %q, want no identity headers", r.status, r.body)
	}
	// A refused request never reaches the upstream.
	if r := call(t, c, "/up/x", "", spoof...); r.status != 401 || strings.Contains(r.body, "admin") {
		t.Fatalf("refused spoof: %d %q", r.status, r.body)
	}
}

func TestCaddyKeyRotationAndUnknownKidFlood(t *testing.T) {
	a, b, cKey := jwttest.Keys(t)
	rotating := jwttest.NewJWKSServer(t, a)
	flooded := jwttest.NewJWKSServer(t, a)
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	handle /rotating {
		bearer_jwt {
			jwks_url %s/jwks
			min_refresh_interval 200ms
			refresh_interval 1h
		}
		respond "ok {http.auth.user.id}"
	}
	handle /flooded {
		bearer_jwt {
			jwks_url %s/jwks
			min_refresh_interval 1h
			refresh_interval 1h
		}
		respond "ok {http.auth.user.id}"
	}
}
`, rotating.URL, flooded.URL))
	now := time.Now()

	if r := call(t, c, "/rotating", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "u-a"))); r.status != 200 {
		t.Fatalf("key A: %d %s", r.status, r.body)
	}
	// The issuer rotates to key B; a B token arrives after min_refresh_interval.
	rotating.Set(http.StatusOK, a, b)
	time.Sleep(250 * time.Millisecond)
	if r := call(t, c, "/rotating", jwttest.SignRS256(t, b, jwttest.Claims(now, "", "", "u-b"))); r.status != 200 || r.body != "ok u-b" {
		t.Fatalf("key B after rotation: %d %s", r.status, r.body)
	}
	if n := rotating.Hits.Load(); n != 2 {
		t.Fatalf("rotation took %d JWKS fetches, want 2", n)
	}

	// A flood of tokens naming made-up kids costs the issuer nothing more
	// than the first fetch while min_refresh_interval has not passed.
	if r := call(t, c, "/flooded", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "u"))); r.status != 200 {
		t.Fatalf("flooded route: %d", r.status)
	}
	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &jwttest.Key{Kid: fmt.Sprintf("made-up-%d", i), Priv: cKey.Priv}
			if r := call(t, c, "/flooded", jwttest.SignRS256(t, k, jwttest.Claims(now, "", "", "x"))); r.status == 401 && strings.Contains(r.body, "unknown_key") {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 40 || flooded.Hits.Load() != 1 {
		t.Fatalf("flood: %d refused as unknown_key, %d JWKS fetches (want 40, 1)", refused.Load(), flooded.Hits.Load())
	}
}

func TestCaddyIssuerOutage(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	handle /cached {
		bearer_jwt {
			jwks_url %s/jwks
			refresh_interval 300ms
			min_refresh_interval 100ms
		}
		respond "ok {http.auth.user.id}"
	}
	handle /never {
		bearer_jwt {
			jwks_url %s/jwks
			min_refresh_interval 1h
		}
		respond "never"
	}
}
`, keys.URL, deadURL))
	now := time.Now()
	if r := call(t, c, "/cached", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "before"))); r.status != 200 {
		t.Fatalf("before outage: %d", r.status)
	}
	keys.Set(http.StatusInternalServerError)
	before := keys.Hits.Load()
	deadline := time.Now().Add(10 * time.Second)
	for keys.Hits.Load() < before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if keys.Hits.Load() < before+2 {
		t.Fatal("the background refresher did not retry during the outage")
	}
	// A token never seen before (not in the verified-token cache) still
	// verifies against the last known keys.
	if r := call(t, c, "/cached", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "during"))); r.status != 200 || r.body != "ok during" {
		t.Fatalf("during outage: %d %s", r.status, r.body)
	}

	for range 2 { // the second one is answered without a fetch (rate limit)
		r := call(t, c, "/never", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "u")))
		if r.status != 503 || r.refusal(t).Reason != "keys_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("no keys ever: %d %q Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
		}
	}
}

func TestCaddyReloadWhileServing(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	config := func(body string) string {
		return fmt.Sprintf(`
https://localhost {
	handle /api {
		bearer_jwt {
			jwks_url %s/jwks
			refresh_interval 1h
		}
		respond "%s {http.auth.user.id}"
	}
	respond /health "up"
}
`, keys.URL, body)
	}
	c := testutil.StartCaddy(t, config("one"))
	poolKey := bearer.JWKSConfig{JWKSURL: keys.URL + "/jwks", Interval: time.Hour, MinPeriod: defaultMinRefresh}.PoolKey()
	now := time.Now()
	if r := call(t, c, "/api", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "warm"))); r.status != 200 {
		t.Fatalf("warm-up: %d", r.status)
	}
	val, _ := jwksPool.LoadOrStore(poolKey, nil)
	cache := val.(*bearer.Refresher)
	_, _ = jwksPool.Delete(poolKey)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	var firstBad atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := c.NewClient()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Fresh tokens, so each request needs the (shared) keys.
				tok := jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", fmt.Sprintf("w%d-%d", w, i)))
				req, _ := http.NewRequest(http.MethodGet, c.URL("/api"), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Load(config("two")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed across the reload (first: %v), %d succeeded", bad.Load(), firstBad.Load(), ok.Load())
	}
	if r := call(t, c, "/api", jwttest.SignRS256(t, a, jwttest.Claims(now, "", "", "after"))); r.body != "two after" {
		t.Fatalf("after reload: %q", r.body)
	}
	val, _ = jwksPool.LoadOrStore(poolKey, nil)
	_, _ = jwksPool.Delete(poolKey)
	if val.(*bearer.Refresher) != cache || keys.Hits.Load() != 1 {
		t.Fatalf("reload did not reuse the JWKS cache (same: %v, fetches %d)", val.(*bearer.Refresher) == cache, keys.Hits.Load())
	}

	// A config without bearer_jwt releases the cache and stops its refresher.
	if err := c.Load("https://localhost {\n\trespond \"bye\"\n}\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cache.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("the refresher still runs after the last config let go")
	}
	if refs, loaded := jwksPool.References(poolKey); loaded || refs != 0 {
		t.Fatalf("pool still holds the cache: %d refs", refs)
	}
}

func TestCaddyRejectsUnsafeConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		"jwks_url https://keys.test/jwks\n\t\tallowed_algorithms RS256 HS256": `algorithm "HS256" can never be allowed`,
		"jwks_url https://keys.test/jwks\n\t\tallowed_algorithms none":        `algorithm "none" can never be allowed`,
		"audience api": "issuer or jwks_url is required",
	} {
		err := testutil.TryStartCaddy(t, "https://localhost {\n\tbearer_jwt {\n\t\t"+cfg+"\n\t}\n\trespond ok\n}\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
