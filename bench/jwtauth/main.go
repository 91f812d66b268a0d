// Command jwtauth measures what bearer_jwt costs in front of a reverse
// proxy: in one Caddy, in one run, the same upstream is reached through
// `bearer_jwt` + `reverse_proxy` and through `reverse_proxy` alone, with
// rounds of each interleaved so machine noise hits both. It prints requests
// per second, p50/p99 latency and process CPU per request for both and
// their ratio (target: the authenticated route keeps at least 90% of the
// throughput). Two informational routes show `header_up` (four identity
// headers more for Caddy to proxy and the upstream to parse) and the
// verified-token cache off (every request pays the RS256 check).
//
// Run: go run ./bench/jwtauth [-rounds 10] [-round 1s] [-c 16] [-users 200]
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/intellistack/intellistack/bench/internal/benchkit"
	_ "github.com/intellistack/intellistack/modules/jwtauth"
)

func main() {
	rounds := flag.Int("rounds", 10, "measured rounds per route (interleaved)")
	round := flag.Duration("round", time.Second, "length of one round")
	conc := flag.Int("c", 16, "concurrent clients")
	users := flag.Int("users", 200, "distinct users (tokens) on the authenticated routes")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the measured rounds here")
	flag.Parse()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	benchkit.Must(err)
	upstream := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-User-Id") == "" && r.URL.Path == "/headers/x" {
			http.Error(w, "no identity", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	jwks := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	port := benchkit.FreePort()
	caddyfile := fmt.Sprintf(`{
	admin off
	http_port %[1]d
	auto_https off
	persist_config off
	log {
		level ERROR
	}
}
http://127.0.0.1:%[1]d {
	handle /plain/* {
		reverse_proxy %[2]s
	}
	handle /auth/* {
		bearer_jwt {
			issuer https://bench.test
			jwks_url http://%[3]s/jwks
			audience api
		}
		reverse_proxy %[2]s
	}
	handle /headers/* {
		bearer_jwt {
			issuer https://bench.test
			jwks_url http://%[3]s/jwks
			audience api
			header_up
		}
		reverse_proxy %[2]s
	}
	handle /nocache/* {
		bearer_jwt {
			issuer https://bench.test
			jwks_url http://%[3]s/jwks
			audience api
			token_cache_size -1
		}
		reverse_proxy %[2]s
	}
}
`, port, upstream, jwks)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(cfg, true))
	defer func() { _ = caddy.Stop() }()

	tokens := make([]string, *users)
	for i := range tokens {
		tokens[i] = sign(key, map[string]any{
			"iss": "https://bench.test", "aud": "api", "sub": fmt.Sprintf("user-%d", i),
			"email": fmt.Sprintf("user-%d@example.com", i), "email_verified": true, "role": "student",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		})
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	transport := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	routes := []struct{ name, path string }{
		{"reverse_proxy alone", "/plain/x"},
		{"bearer_jwt + reverse_proxy", "/auth/x"},
		{"bearer_jwt header_up + r_p", "/headers/x"},
		{"bearer_jwt, token cache off", "/nocache/x"},
	}
	results := make([]*result, len(routes))
	for i := range results {
		results[i] = &result{}
	}
	// Per round, the authenticated throughput over the plain one of the
	// round just before it: the median of these resists load drifting on
	// a shared machine better than the totals.
	var pairRatios []float64
	// Warm-up: connections, JWKS fetch, token cache.
	for _, r := range routes {
		run(client, base+r.path, tokens, *conc, time.Second)
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		benchkit.Must(err)
		benchkit.Must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	for range *rounds {
		var perRound [4]float64
		for i, r := range routes {
			res := run(client, base+r.path, tokens, *conc, *round)
			perRound[i] = res.rps()
			results[i].add(res)
		}
		pairRatios = append(pairRatios, perRound[1]/perRound[0])
	}
	slices.Sort(pairRatios)

	fmt.Printf("bearer_jwt bench: %s/%s, GOMAXPROCS %d, %d clients, %d users, %d interleaved rounds of %s per route\n",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), *conc, *users, *rounds, *round)
	fmt.Printf("%-30s %10s %10s %10s %10s %10s %8s\n", "route", "requests", "req/s", "p50", "p99", "CPU/req", "errors")
	for i, r := range routes {
		res := results[i]
		fmt.Printf("%-30s %10d %10.0f %10s %10s %10s %8d\n", r.name, len(res.lat), res.rps(), res.pct(50), res.pct(99), res.cpuPerRequest(), res.errors)
	}
	plain, auth, headers, nocache := results[0], results[1], results[2], results[3]
	fmt.Printf("ratio bearer_jwt/plain: throughput %.1f%%, p99 %.2fx (target: throughput >= 90%%)\n",
		100*auth.rps()/plain.rps(), float64(auth.pct(99))/float64(plain.pct(99)))
	fmt.Printf("CPU per request bearer_jwt/plain: %.2fx -> CPU-bound throughput %.1f%% of plain\n",
		float64(auth.cpuPerRequest())/float64(plain.cpuPerRequest()), 100*float64(plain.cpuPerRequest())/float64(auth.cpuPerRequest()))
	fmt.Printf("median per-round throughput ratio bearer_jwt/plain: %.1f%% (rounds: %.0f%% .. %.0f%%)\n",
		100*pairRatios[len(pairRatios)/2], 100*pairRatios[0], 100*pairRatios[len(pairRatios)-1])
	for _, info := range []struct {
		name string
		r    *result
	}{{"bearer_jwt header_up", headers}, {"token cache off", nocache}} {
		fmt.Printf("ratio %s/plain: throughput %.1f%%, p99 %.2fx, CPU/req %.2fx (informational)\n", info.name,
			100*info.r.rps()/plain.rps(), float64(info.r.pct(99))/float64(plain.pct(99)),
			float64(info.r.cpuPerRequest())/float64(plain.cpuPerRequest()))
	}
	if auth.errors+plain.errors+headers.errors+nocache.errors > 0 {
		fmt.Fprintln(os.Stderr, "requests failed")
	}
}

type result struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu     time.Duration // CPU time of this whole process (client, Caddy, upstream)
	errors  int
}

func (r *result) add(o *result) {
	r.lat = append(r.lat, o.lat...)
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.errors += o.errors
}

// cpuPerRequest is the CPU time the process spent per request: unlike
// req/s, it hardly depends on what other programs on the machine do.
func (r *result) cpuPerRequest() time.Duration {
	return (r.cpu / time.Duration(max(1, len(r.lat)))).Round(100 * time.Nanosecond)
}

func (r *result) rps() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r *result) pct(p int) time.Duration {
	return benchkit.Percentile(r.lat, p).Round(time.Microsecond)
}

// run drives url with conc clients for d, each request with the next token.
func run(client *http.Client, url string, tokens []string, conc int, d time.Duration) *result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	total := &result{}
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), benchkit.CPUTime()
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for i := g; ctx.Err() == nil; i += conc {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			total.lat = append(total.lat, lat...)
			total.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed, total.cpu = time.Since(start), benchkit.CPUTime()-cpu0
	return total
}

func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Must(err)
	go func() { _ = http.Serve(ln, h) }()
	return ln.Addr().String()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sign(key *rsa.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "bench", "typ": "at+jwt"}) // an access token (RFC 9068 §2.1)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	benchkit.Must(err)
	return input + "." + b64(sig)
}
